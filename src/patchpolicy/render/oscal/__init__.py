"""NIST OSCAL 1.1.3: ``oscal/assessment-results.json`` and ``oscal/poam.json``.

Contract:

* Assessment results: one result for the evaluation. The items that do not pass are
  grouped by (policy, vulnerability, verdict, exception, controls): one observation and
  one finding per group, titled and described with how many items and hosts it stands
  for, its subjects the hosts of its ``group_sample`` worst items, its evidence the lines
  of ``items.jsonl``. A group of one item reads as that item. Host checks that do not
  pass are grouped by (policy, check, verdict) the same way. Every control a policy
  evidences is a finding too (satisfied or not, with the observations behind it);
  exceptions are risks (valid: ``deviation-approved``, not yet valid:
  ``deviation-requested``, expired or over-lifetime: ``open``) whose deadline is their
  expiry. Hosts named are inventory items. The document's size follows the number of
  distinct vulnerabilities, not of items.
* POA&M: one item per (policy, vulnerability, exception) that is not remediated (open,
  due soon, overdue, excepted; unjudged items are a group of their own), with its
  affected hosts counted and sampled, a risk whose deadline is the group's earliest SLA
  deadline (as-of for unjudged items) and a remediation with that deadline as a
  ``milestone`` task; excepted groups point at the exception's risk. Host checks that do
  not pass are POA&M items too, per (policy, check, verdict), due when the first host
  went past the policy's limit (last scan plus the scan interval, pending reboot plus its
  limit) or as-of when there is no such instant (never scanned, scope error).
* Deterministic: every UUID is a uuid5 of a stable key (what it identifies; the
  documents' own UUIDs add the input digests and as-of), every timestamp is as-of.
  POA&M items, risks and hosts keep their UUIDs across runs (keyed by policy and
  vulnerability, not by host) so tools can track them.
* OSCAL tokens cannot start with a digit (``6.3.3``): a control's ``control-id`` is
  ``<framework>-<version>_<id>`` with other characters replaced by ``-``.

Modules: ``common`` (UUIDs, tokens, props, metadata, inventory, exception risks),
``observations`` (of item groups and host check groups), ``assessment`` (the
assessment-results document) and ``plan_of_action`` (the POA&M).
"""

from patchpolicy.render.oscal.assessment import OscalAssessmentResults, assessment_results
from patchpolicy.render.oscal.common import NAMESPACE, OSCAL_VERSION, control_id, token, uid
from patchpolicy.render.oscal.plan_of_action import OscalPoam, poam

__all__ = [
    "NAMESPACE",
    "OSCAL_VERSION",
    "OscalAssessmentResults",
    "OscalPoam",
    "assessment_results",
    "control_id",
    "poam",
    "token",
    "uid",
]
