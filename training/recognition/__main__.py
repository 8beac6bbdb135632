"""`python -m training.recognition` is `make recognize` (run.py)."""
from .run import main

main()
