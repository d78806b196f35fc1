import sys

from app.course.cli import main

sys.exit(main())
