#!/usr/bin/env bash
# Static security checks of template.yaml with checkov, offline. Exit status: 0 clean, non-zero otherwise.
#
# checkov runs from its own virtualenv (.venv-checkov): it pins boto3 exactly (checkov 3.3.30 wants
# boto3==1.35.49), which conflicts with the project's pins in requirements-dev.txt.
#
# Two passes:
#   1. the SAM source, as written (checkov understands AWS::Serverless::* and Globals);
#   2. the CloudFormation the SAM transform produces (roles, managed policies, stages, event source
#      mappings that only exist after the transform), translated offline with the project's own
#      translator set-up (scripts/validate_template.py), so it needs the project venv: `make venv`.
# Findings are fixed or suppressed inline in template.yaml (Metadata: checkov: skip: with a comment);
# SAM copies a resource's Metadata to what it generates, so the same suppressions apply to pass 2.
set -euo pipefail

CHECKOV_VERSION=3.3.30
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TEMPLATE=${1:-template.yaml}
VENV=${CHECKOV_VENV:-.venv-checkov}
PROJECT_PY=${PROJECT_PY:-.venv/bin/python}

if [ ! -x "$VENV/bin/checkov" ] || [ "$("$VENV/bin/checkov" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]; then
  py=$(scripts/find-python312) || exit 1
  echo "creating $VENV with checkov $CHECKOV_VERSION" >&2
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "checkov==$CHECKOV_VERSION"
fi
if [ ! -x "$PROJECT_PY" ]; then
  echo "error: $PROJECT_PY not found (run 'make venv', or set PROJECT_PY to a python with requirements-dev.txt)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The SAM transform, offline (placeholder S3 code URIs, managed-policy ARNs from a fixed map).
"$PROJECT_PY" - "$TEMPLATE" "$work/translated.json" <<'PY'
import json
import sys
from pathlib import Path

sys.path.insert(0, "scripts")
import yaml  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402

import validate_template as vt  # noqa: E402

source, target = sys.argv[1], sys.argv[2]
template = yaml.load(Path(source).read_text(encoding="utf-8"), Loader=vt._CfnLoader)
translated = transform(vt._stub_local_artifacts(template), {}, vt.OfflinePolicyLoader())
Path(target).write_text(json.dumps(translated, indent=1), encoding="utf-8")
PY

status=0
for file in "$TEMPLATE" "$work/translated.json"; do
  label=$file
  [ "$file" = "$TEMPLATE" ] || label="$TEMPLATE (after SAM transform)"
  echo "checkov: $label"
  # --skip-download: no call to Prisma Cloud for guideline links (offline, deterministic).
  if ! "$VENV/bin/checkov" -f "$file" --framework cloudformation --compact --quiet --skip-download; then
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "checkov: no failed checks"
exit "$status"
