"""The documentation held to the code: the README's tour and commands run, and every relative
link in README.md and docs/ leads to a file and a heading that exist."""
