import sys

from persona_judge.study.commands import main

sys.exit(main())
