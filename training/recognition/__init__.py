"""Dance recognition on skeletons (the paper's two-stream recognizer): `make recognize`, and
`make eval`'s judge of style. README.md in this folder says what each file holds."""
