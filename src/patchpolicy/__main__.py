"""``python -m patchpolicy``."""

from patchpolicy.cli import main

if __name__ == "__main__":
    main()
