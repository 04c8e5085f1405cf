"""The paper's effects in miniature, run by ``python -m tools.study`` on the stand-in data (tools/standin).

protocol    what is trained, measured and compared, and the criterion; fixed before any run
layout      where the study keeps everything under ``--out``; task markers, commit, timing
data        the data tasks: motion corpus, image sets, stand-in pose network and its maps
evaluation  zero-shot evaluation from cached pose-network maps and from oracle silhouettes
runner      trainings and evaluations of every (run, seed), the task scheduler and the command line
results     the stored results read back, summaries over seeds, the criterion's verdicts
report      the results file, plot and README headline, from the stored results only
"""
