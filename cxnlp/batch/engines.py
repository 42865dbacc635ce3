# TEMPORARY stand-in until branch `engine` lands (not to be committed)
from cxnlp.pipeline import Pipeline
class LocalEngine:
    def __init__(self, pipeline): self.pipeline = pipeline; self.model_version = pipeline.heads.version
    def score_stream(self, frames, text_col="text"):
        for f in frames: yield self.pipeline.score(f, text_col=text_col)
    def close(self): pass
def make_engine(kind, settings, scheduler=None):
    return LocalEngine(Pipeline.load(None, settings))
ScoringEngine = LocalEngine
