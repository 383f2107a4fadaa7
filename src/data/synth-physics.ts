/**
 * Parton-level event generation for the synthetic HEP task: the two processes
 * (RPV SUSY gluino pairs and QCD multi-jet), one label-blind parton shower and
 * initial-state radiation, large-R jet reconstruction and the standard cuts.
 *
 * The class enters only through the hard process. Everything after it (shower,
 * ISR, jet clustering, detector smearing, and the calorimeter in
 * synth-detector.ts) is the same function of the partons for both classes.
 * Units: GeV; η (pseudo)rapidity, φ in [-π, π).
 */
import type { Rng } from './rng';

/** Hard-process parameters (the seed's signal sample is RPV10_1400_850: m(gluino) 1400, m(neutralino) 850). */
export const PROCESS = {
  gluinoMass: 1400,
  neutralinoMass: 850,
  /** mean of the exponential excess of the gluino-pair mass over threshold */
  pairMassExcess: 250,
  /** Gaussian width of the pair system's rapidity */
  pairRapiditySigma: 0.6,
  /** QCD 2→2: lowest generated parton pT (importance-sampled as pT^-importancePower) */
  qcdPtMin: 500,
  qcdPtMax: 2500,
  importancePower: 1.5,
  /** physical spectrum dσ/dpT ∝ pT^-spectrumPower (pT^-4 of 2→2 QCD, steepened by the PDFs) */
  spectrumPower: 5,
  /** Gaussian width of each QCD parton's rapidity */
  qcdRapiditySigma: 0.9,
  /** P(gluon) of a QCD final-state parton: gg → gg dominates at low x, falling with pT */
  qcdGluonFractionAtMin: 0.75,
  qcdGluonFractionSlope: 0.25 / 1000,
  /** cross-section weights: background per event at pT = qcdPtMin; signal per event */
  qcdWeightScale: 50,
  signalWeight: 0.02,
};

/** Shower and radiation: identical for both classes. */
export const SHOWER = {
  /** emissions per parton ~ Poisson(alpha · C · ln(pT / cutoff)); C = 4/3 (quark), 3 (gluon) */
  alpha: 0.45,
  cutoff: 20,
  /** emission angle: log-uniform in [minAngle, maxAngle] from the emitter */
  minAngle: 0.05,
  maxAngle: 2.0,
  /** momentum fraction z of the emitted gluon: zMin + (zMax - zMin)·u² (soft-enhanced) */
  zMin: 0.03,
  zMax: 0.5,
  /** initial-state radiation: Poisson(isrMean) gluons with pT ~ exponential(isrPtMean) */
  isrMean: 1.5,
  isrPtMean: 120,
};

/** Reconstruction: large-R jets (R = 1.0) as in the ATLAS RPV multi-jet search the seed's cuts come from. */
export const RECO = {
  jetRadius: 1.0,
  jetPtResolution: 0.08,
  jetMassResolution: 0.12,
  jetPtMin: 200,
  jetEtaMax: 2.0,
  /** partons below this pT are not clustered (they still reach the calorimeter) */
  partonPtMin: 10,
  /** jets stored per event (pT-ordered, zero-padded) */
  maxStoredJets: 8,
};

/**
 * The standard cuts at the seed's scale: (≥ 4 jets and summed jet mass ≥ 800 GeV,
 * or ≥ 5 jets and ≥ 600 GeV) and |Δη| between the two leading jets < 1.4.
 */
export const STANDARD_CUTS = {
  jetPtThreshold: RECO.jetPtMin,
  jetEtaMax: RECO.jetEtaMax,
  regions: [
    { minJets: 4, minSummedMass: 800 },
    { minJets: 5, minSummedMass: 600 },
  ],
  maxLeadingDeltaEta: 1.4,
};

export type Flavour = 'quark' | 'gluon';

/** A final-state parton (massless), what the detector sees. */
export interface Parton {
  pt: number;
  eta: number;
  phi: number;
  flavour: Flavour;
}

/** A reconstructed (smeared) large-R jet. */
export interface RecoJet {
  pt: number;
  eta: number;
  phi: number;
  mass: number;
  /** partons clustered into it */
  constituents: number;
}

export interface GeneratedEvent {
  label: 0 | 1;
  partons: Parton[];
  jets: RecoJet[];
  weight: number;
  psr: 0 | 1;
}

type Vec4 = [number, number, number, number]; // E, px, py, pz

const TWO_PI = 2 * Math.PI;

export function wrapPhi(phi: number): number {
  return phi - TWO_PI * Math.floor((phi + Math.PI) / TWO_PI);
}

/** One event: hard process by label, then the label-blind chain. */
export function generateEvent(rng: Rng, label: 0 | 1): GeneratedEvent {
  const hard = label ? gluinoPair(rng) : qcdDijet(rng);
  const partons: Parton[] = [];
  for (const p of hard.partons) shower(rng, p, partons, 0);
  const nIsr = rng.poisson(SHOWER.isrMean);
  for (let k = 0; k < nIsr; k++) {
    shower(rng, { pt: 20 + rng.exponential(SHOWER.isrPtMean), eta: rng.normal(0, 1.8), phi: rng.uniform() * TWO_PI - Math.PI, flavour: 'gluon' }, partons, 0);
  }
  const jets = reconstructJets(rng, partons);
  return { label, partons, jets, weight: hard.weight, psr: passesStandardCuts(jets) ? 1 : 0 };
}

/** Gluino pair near threshold; each g̃ → q q χ̃, χ̃ → q q q (RPV): ten quarks. */
function gluinoPair(rng: Rng): { partons: Parton[]; weight: number } {
  const { gluinoMass: mg, neutralinoMass: mx } = PROCESS;
  const mPair = 2 * mg + rng.exponential(PROCESS.pairMassExcess);
  const y = rng.normal(0, PROCESS.pairRapiditySigma);
  const pair: Vec4 = [mPair * Math.cosh(y), 0, 0, mPair * Math.sinh(y)];
  const quarks: Vec4[] = [];
  for (const g of twoBody(rng, pair, mg, mg)) {
    // g̃ → q + X*, X* → q + χ̃ (three-body phase space approximated by a uniform X* mass)
    const mStar = mx + rng.uniform() * (mg - mx);
    const [q1, xStar] = twoBody(rng, g, 0, mStar);
    const [q2, chi] = twoBody(rng, xStar, 0, mx);
    const mY = rng.uniform() * mx;
    const [q3, yStar] = twoBody(rng, chi, 0, mY);
    const [q4, q5] = twoBody(rng, yStar, 0, 0);
    quarks.push(q1, q2, q3, q4, q5);
  }
  const partons = quarks.map((v) => toParton(v, 'quark')).filter((p): p is Parton => p !== null);
  return { partons, weight: PROCESS.signalWeight * (0.9 + 0.2 * rng.uniform()) };
}

/** QCD 2→2 at pT drawn ∝ pT^-importancePower, weighted back to the physical spectrum. */
function qcdDijet(rng: Rng): { partons: Parton[]; weight: number } {
  const { qcdPtMin: lo, qcdPtMax: hi, importancePower: k, spectrumPower: s } = PROCESS;
  // inverse CDF of pT^-k on [lo, hi]
  const a = Math.pow(lo, 1 - k);
  const b = Math.pow(hi, 1 - k);
  const pt = Math.pow(a + rng.uniform() * (b - a), 1 / (1 - k));
  const weight = PROCESS.qcdWeightScale * Math.pow(pt / lo, k - s);
  const phi = rng.uniform() * TWO_PI - Math.PI;
  const gluonFraction = Math.max(0.2, PROCESS.qcdGluonFractionAtMin - PROCESS.qcdGluonFractionSlope * (pt - lo));
  const flavour = (): Flavour => (rng.uniform() < gluonFraction ? 'gluon' : 'quark');
  const imbalance = 1 + rng.normal(0, 0.05);
  return {
    partons: [
      { pt, eta: rng.normal(0, PROCESS.qcdRapiditySigma), phi, flavour: flavour() },
      { pt: pt * imbalance, eta: rng.normal(0, PROCESS.qcdRapiditySigma), phi: wrapPhi(phi + Math.PI + rng.normal(0, 0.1)), flavour: flavour() },
    ],
    weight,
  };
}

/** Toy parton shower: hard, possibly wide-angle gluon emissions that make extra jets and jet mass. */
function shower(rng: Rng, p: Parton, out: Parton[], depth: number): void {
  const colour = p.flavour === 'gluon' ? 3 : 4 / 3;
  let pt = p.pt;
  const n = pt > SHOWER.cutoff ? rng.poisson(SHOWER.alpha * colour * Math.log(pt / SHOWER.cutoff)) : 0;
  for (let k = 0; k < n; k++) {
    const u = rng.uniform();
    const z = SHOWER.zMin + (SHOWER.zMax - SHOWER.zMin) * u * u;
    const theta = SHOWER.minAngle * Math.pow(SHOWER.maxAngle / SHOWER.minAngle, rng.uniform());
    const dir = rng.uniform() * TWO_PI;
    const emitted: Parton = { pt: z * pt, eta: p.eta + theta * Math.sin(dir), phi: wrapPhi(p.phi + theta * Math.cos(dir)), flavour: 'gluon' };
    pt *= 1 - z;
    if (depth < 1) shower(rng, emitted, out, depth + 1);
    else out.push(emitted);
  }
  out.push({ ...p, pt });
}

/** Greedy cone clustering (anti-kT-like for hard partons): pT-ordered partons join the nearest jet within R. */
function reconstructJets(rng: Rng, partons: Parton[]): RecoJet[] {
  const sorted = partons.filter((p) => p.pt >= RECO.partonPtMin).sort((a, b) => b.pt - a.pt);
  const clusters: { axis: Parton; sum: Vec4; n: number }[] = [];
  for (const p of sorted) {
    let best = -1;
    let bestDr = RECO.jetRadius;
    clusters.forEach((c, i) => {
      const dr = deltaR(c.axis, p);
      if (dr < bestDr) {
        bestDr = dr;
        best = i;
      }
    });
    const v = fourVector(p);
    if (best < 0) clusters.push({ axis: p, sum: v, n: 1 });
    else {
      const c = clusters[best];
      c.sum = [c.sum[0] + v[0], c.sum[1] + v[1], c.sum[2] + v[2], c.sum[3] + v[3]];
      c.n++;
    }
  }
  const jets: RecoJet[] = [];
  for (const c of clusters) {
    const [e, px, py, pz] = c.sum;
    const pt = Math.hypot(px, py) * (1 + rng.normal(0, RECO.jetPtResolution));
    const m2 = e * e - px * px - py * py - pz * pz;
    const mass = Math.sqrt(Math.max(0, m2)) * Math.max(0, 1 + rng.normal(0, RECO.jetMassResolution));
    const p = Math.hypot(px, py, pz);
    const eta = 0.5 * Math.log((p + pz) / Math.max(1e-9, p - pz));
    if (pt < RECO.jetPtMin || Math.abs(eta) > RECO.jetEtaMax) continue;
    jets.push({ pt, eta, phi: Math.atan2(py, px), mass, constituents: c.n });
  }
  return jets.sort((a, b) => b.pt - a.pt);
}

export function passesStandardCuts(jets: RecoJet[]): boolean {
  if (jets.length < 2 || Math.abs(jets[0].eta - jets[1].eta) >= STANDARD_CUTS.maxLeadingDeltaEta) return false;
  const summed = jets.reduce((s, j) => s + j.mass, 0);
  return STANDARD_CUTS.regions.some((r) => jets.length >= r.minJets && summed >= r.minSummedMass);
}

function deltaR(a: { eta: number; phi: number }, b: { eta: number; phi: number }): number {
  return Math.hypot(a.eta - b.eta, wrapPhi(a.phi - b.phi));
}

function fourVector(p: Parton): Vec4 {
  return [p.pt * Math.cosh(p.eta), p.pt * Math.cos(p.phi), p.pt * Math.sin(p.phi), p.pt * Math.sinh(p.eta)];
}

function toParton(v: Vec4, flavour: Flavour): Parton | null {
  const pt = Math.hypot(v[1], v[2]);
  if (pt < 1) return null;
  const p = Math.hypot(v[1], v[2], v[3]);
  return { pt, eta: 0.5 * Math.log((p + v[3]) / Math.max(1e-9, p - v[3])), phi: Math.atan2(v[2], v[1]), flavour };
}

/** Isotropic two-body decay of `parent` into masses m1, m2, in the lab frame. */
function twoBody(rng: Rng, parent: Vec4, m1: number, m2: number): [Vec4, Vec4] {
  const [E, px, py, pz] = parent;
  const M = Math.sqrt(Math.max(0, E * E - px * px - py * py - pz * pz));
  const pStar = Math.sqrt(Math.max(0, (M * M - (m1 + m2) ** 2) * (M * M - (m1 - m2) ** 2))) / (2 * M);
  const cosT = 2 * rng.uniform() - 1;
  const sinT = Math.sqrt(1 - cosT * cosT);
  const ph = rng.uniform() * TWO_PI;
  const d: [number, number, number] = [pStar * sinT * Math.cos(ph), pStar * sinT * Math.sin(ph), pStar * cosT];
  const a: Vec4 = [Math.hypot(pStar, m1), d[0], d[1], d[2]];
  const b: Vec4 = [Math.hypot(pStar, m2), -d[0], -d[1], -d[2]];
  return [boost(a, px / E, py / E, pz / E), boost(b, px / E, py / E, pz / E)];
}

function boost(v: Vec4, bx: number, by: number, bz: number): Vec4 {
  const b2 = bx * bx + by * by + bz * bz;
  if (b2 < 1e-15) return v;
  const g = 1 / Math.sqrt(1 - b2);
  const bp = bx * v[1] + by * v[2] + bz * v[3];
  const g2 = (g - 1) / b2;
  return [g * (v[0] + bp), v[1] + g2 * bp * bx + g * bx * v[0], v[2] + g2 * bp * by + g * by * v[0], v[3] + g2 * bp * bz + g * bz * v[0]];
}
