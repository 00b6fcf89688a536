#!/usr/bin/env bash
# Builds fuzz/corpus/<target>/ from the repository's fixtures and fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=../tests/fixtures/corpus
mkdir -p corpus/csv corpus/vcard corpus/vtodo corpus/msg corpus/pst
cp seeds/csv/* corpus/csv/
cp "$fixtures"/*.vcf corpus/vcard/
cp "$fixtures"/*.ics corpus/vtodo/
cp "$fixtures"/*.msg corpus/msg/
cp "$fixtures"/java-libpst__dist-list.pst "$fixtures"/outlook-pst-crate__Empty.pst corpus/pst/
