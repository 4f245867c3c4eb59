"""What collectors/, rules/ and alerter/ share, so that each imports only this and itself.

The values that flow (`events`: log events, batches and samples; `eventtime`: where a line's
time places it), the YAML reader that keeps each value's file and line (`yamlsource`,
`yamlload`, `yamlbounds`, `values` for durations, `${VAR}` and label names), and regex
compilation that refuses patterns with exponential backtracking (`saferegex`, `linearity`,
`re2engine`, `re2translate`). Nothing here imports from the other three folders.
"""
