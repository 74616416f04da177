"""Print the must/must-not cases the engine fails, with what it produced (for tests/data/cases_known_failures.txt).

Usage: .venv/bin/python scripts/cases_report.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from cases_support import case_failures, load_cases
from tidings.pipeline import default_engine

e=default_engine()
cases=load_cases(); bad=0
for c in cases:
    a=e.analyze(c['text'], published=c.get('published'), outlet=c.get('outlet'))
    evs=[x.model_dump(mode='json') for x in a.events]
    f=case_failures(c, evs)
    if f:
        bad+=1
        print(c['id'], '|', c['text'][:150]); print('   ', f[0][:200]); print('    got', [(x['type'], x['evidence']['trigger']['text'], (x['source_actor'] or {}).get('code'), (x['target_actor'] or {}).get('code'), (x['place'] or {}).get('name'), x['when']['start'], x['modality'], [s['name'] for s in x['attribution']]) for x in evs][:4])
print('failing', bad, 'of', len(cases))
