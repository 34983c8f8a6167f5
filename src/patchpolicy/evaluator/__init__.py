"""(policy bundle, snapshot, as-of) -> verdicts. No I/O beyond reading the snapshot, no
printing, never the wall clock.

- :mod:`.core`: the Evaluator (judge, count, finish) and :func:`evaluate`;
- :mod:`.runner`: one policy prepared for the hot path, with the evaluation's memo;
- :mod:`.exceptions`: exception status, coverage and reports;
- :mod:`.hygiene`: host checks (scan freshness, pending reboot);
- :mod:`.tally`: bounded state (worst items, shard partials).

The SLA clock is :mod:`patchpolicy.clock`; the result is
:class:`patchpolicy.model.evaluation.Evaluation`.
"""

from patchpolicy.evaluator.core import Evaluator, evaluate
from patchpolicy.evaluator.exceptions import exception_status
from patchpolicy.evaluator.tally import PartialState
from patchpolicy.model.evaluation import Evaluation, Tally, worst_key

__all__ = ["Evaluation", "Evaluator", "PartialState", "Tally", "evaluate", "exception_status", "worst_key"]
