# Reference values from scikit-learn (Debian python3-sklearn) for test/metrics.
# Reads JSON cases on stdin, writes JSON results on stdout.
import json, sys
import numpy as np
from sklearn.metrics import roc_curve, roc_auc_score, accuracy_score


def tf_auc(y, s, w, n):
    """TF1 tf.metrics.auc(num_thresholds=n, curve='ROC') re-done in numpy, brute force."""
    k = 1e-7
    thr = [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)]
    thr = np.array([0.0 - k] + thr + [1.0 + k], dtype=np.float32)
    pred = np.asarray(s, dtype=np.float32)
    pos = np.asarray(y) == 1
    above = pred[None, :] > thr[:, None]
    tp = (above & pos).astype(np.float64) @ w
    fp = (above & ~pos).astype(np.float64) @ w
    fn = (~above & pos).astype(np.float64) @ w
    tn = (~above & ~pos).astype(np.float64) @ w
    eps = 1e-6
    rec = (tp + eps) / (tp + fn + eps)
    fpr = fp / (fp + tn + eps)
    return float(np.sum((fpr[:n - 1] - fpr[1:]) * (rec[:n - 1] + rec[1:]) / 2.0))


out = []
for case in json.load(sys.stdin):
    y = np.array(case['labels'])
    s = np.array(case['scores'], dtype=np.float64)
    w = None if case['weights'] is None else np.array(case['weights'], dtype=np.float64)
    fpr, tpr, thr = roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    ww = np.ones(len(y)) if w is None else w
    out.append({
        'auc': float(roc_auc_score(y, s, sample_weight=w)),
        'fpr': fpr.tolist(), 'tpr': tpr.tolist(), 'thresholds': thr.tolist(),
        'accuracy': float(accuracy_score(y, (s > 0.5).astype(int), sample_weight=w)),
        'tf_auc': tf_auc(y, s, ww, case.get('num_thresholds', 5000)),
    })
json.dump(out, sys.stdout)
