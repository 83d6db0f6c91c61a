"""`python -m datavsmath`: the command line, as the console script `datavsmath` runs it."""
from datavsmath.cli import console

if __name__ == "__main__":
    console()
