import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { synthesize } from '../../src/data/index';
import { baselineRows } from '../../bench/baselines';
import { tmpDir, py } from './helpers';

test('bench baselines: the cuts row is psr; the tfjs logistic regression on summed energies matches scikit-learn on the same split', async () => {
  const dir = tmpDir();
  await synthesize({ outDir: dir, size: 64, events: 2500, seed: 9, valFraction: 0.01, testFraction: 0.3 });
  const { rows, cut, test: split } = await baselineRows(dir);
  assert.deepEqual(rows.map((r) => r.name), [
    'standard cuts (psr)',
    'logistic regression, summed channel energies',
    'logistic regression, 8x8-pooled images',
    'fully connected network, large-R jets',
  ]);
  assert.equal(rows[0].signalEfficiency, cut.tpr);
  assert.ok(cut.fpr > 0 && cut.fpr < 0.05 && cut.tpr > 0.1, `cuts ${JSON.stringify(cut)}`);
  assert.equal(split.sums.length, split.label.length * 3);
  for (const r of rows) assert.ok(r.weightedAuc > 0.5 && r.weightedAuc < 1 && r.signalEfficiency >= 0 && r.signalEfficiency <= 1, JSON.stringify(r));
  const sk = Number(
    py(`import sys, glob, h5py, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import roc_auc_score
def load(split):
    xs, ys, ws = [], [], []
    for f in sorted(glob.glob(sys.argv[1] + '/' + split + '*.h5')):
        with h5py.File(f) as h:
            xs.append(np.log1p(h['data'][:].astype('f8').sum(axis=(2, 3)))); ys.append(h['label'][:]); ws.append(h['weight'][:])
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
x, y, _ = load('train'); xt, yt, wt = load('test')
sc = StandardScaler().fit(x)
m = LogisticRegression(max_iter=3000).fit(sc.transform(x), y)
print(roc_auc_score(yt, m.predict_proba(sc.transform(xt))[:, 1], sample_weight=wt))
`, dir).trim(),
  );
  // Adam for 40 epochs against scikit-learn's L-BFGS to convergence, compared by weighted AUC on 750 test
  // events whose weights span orders of magnitude: measured 0.810 vs 0.783 (onednn backend), within 0.02 on
  // wasm; an unfitted model scores ~0.5.
  assert.ok(Math.abs(rows[1].weightedAuc - sk) < 0.04, `tfjs ${rows[1].weightedAuc} vs scikit-learn ${sk}`);
});
