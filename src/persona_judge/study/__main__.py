import sys

from persona_judge.cli import main

sys.exit(main())
