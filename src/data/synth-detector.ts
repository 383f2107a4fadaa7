/**
 * The calorimeter and tracker of the synthetic task: final-state partons
 * hadronise into particles that deposit energy in an η–φ grid of cells
 * (x = φ, periodic; y = η) and leave tracks. The three channels are the
 * seed's: total calorimeter energy (ECAL + HCAL, GeV), EM fraction, track
 * count. It never sees the event's class.
 */
import type { Rng } from './rng';
import { wrapPhi, type Parton } from './synth-physics';

export const ETA_MAX = 2.5;

export const DETECTOR = {
  /** charged multiplicity of a quark jet: quarkMultiplicity + multiplicitySlope·ln(pT / 10 GeV) */
  quarkMultiplicity: 2,
  multiplicitySlope: 3,
  /** gluon/quark multiplicity ratio (measured ≈ 1.5 at LHC jet energies; C_A/C_F = 2.25 asymptotically) */
  gluonMultiplicityRatio: 1.5,
  /** angular width of the particle spray at pT = 100 GeV (narrower ∝ pT^-0.5 above); gluon jets are wider */
  quarkWidth: 0.07,
  gluonWidth: 0.11,
  /** energy shares: charged hadrons, photons (π⁰ → γγ), neutral hadrons */
  chargedShare: 0.6,
  photonShare: 0.27,
  /** EM share of a charged hadron's calorimeter shower: uniform in [0, hadronEmMax) */
  hadronEmMax: 0.5,
  /** tracks are reconstructed above this pT (GeV) */
  trackPtMin: 0.5,
  /** cell noise (Gaussian σ, GeV) in the EM and hadronic layers; cells whose total is below the threshold read 0 */
  emNoise: 0.12,
  hadNoise: 0.16,
  cellThreshold: 0.5,
  /** pile-up particles: pT ~ exponential(pileupPtMean), uniform in η and φ, charged with pileupCharged */
  pileupPtMean: 1.5,
  pileupCharged: 0.6,
};

const TWO_PI = 2 * Math.PI;

/** Draws events into [3,S,S] float32 images (unnormalised: GeV, fraction, counts). */
export class Calorimeter {
  private readonly size: number;
  private readonly pileup: number;
  private readonly em: Float64Array;
  private readonly had: Float64Array;

  constructor(size: number, pileup: number) {
    this.size = size;
    this.pileup = pileup;
    this.em = new Float64Array(size * size);
    this.had = new Float64Array(size * size);
  }

  event(partons: readonly Parton[], rng: Rng, out: Float32Array, offset: number): void {
    const plane = this.size * this.size;
    out.fill(0, offset, offset + 3 * plane);
    this.em.fill(0);
    this.had.fill(0);
    const tracks = out.subarray(offset + 2 * plane, offset + 3 * plane);
    for (const p of partons) this.hadronise(p, rng, tracks);
    const nPileup = rng.poisson(this.pileup);
    for (let k = 0; k < nPileup; k++) {
      const eta = (rng.uniform() * 2 - 1) * ETA_MAX;
      const phi = rng.uniform() * TWO_PI - Math.PI;
      const pt = rng.exponential(DETECTOR.pileupPtMean);
      if (rng.uniform() < DETECTOR.pileupCharged) this.charged(eta, phi, pt, rng, tracks);
      else this.deposit(eta, phi, pt * Math.cosh(eta), 1);
    }
    const energy = out.subarray(offset, offset + plane);
    const emFraction = out.subarray(offset + plane, offset + 2 * plane);
    for (let c = 0; c < plane; c++) {
      const em = this.em[c] + rng.normal(0, DETECTOR.emNoise);
      const e = em + this.had[c] + rng.normal(0, DETECTOR.hadNoise);
      if (e < DETECTOR.cellThreshold) continue;
      energy[c] = e;
      emFraction[c] = Math.min(1, Math.max(0, em / e));
    }
  }

  /** A parton becomes a spray of charged hadrons, photons and neutral hadrons around its direction. */
  private hadronise(p: Parton, rng: Rng, tracks: Float32Array): void {
    const gluon = p.flavour === 'gluon';
    const meanCharged = Math.max(1, (DETECTOR.quarkMultiplicity + DETECTOR.multiplicitySlope * Math.log(Math.max(1, p.pt / 10))) * (gluon ? DETECTOR.gluonMultiplicityRatio : 1));
    const nCharged = 1 + rng.poisson(meanCharged - 1 + 1e-9);
    const nPhotons = 1 + rng.poisson(0.6 * nCharged);
    const nNeutral = rng.poisson(0.15 * nCharged);
    const width = (gluon ? DETECTOR.gluonWidth : DETECTOR.quarkWidth) * Math.sqrt(100 / Math.max(100, p.pt));
    const groups: [number, number, 0 | 1 | 2][] = [
      [nCharged, DETECTOR.chargedShare, 0],
      [nPhotons, DETECTOR.photonShare, 1],
      [nNeutral, 1 - DETECTOR.chargedShare - DETECTOR.photonShare, 2],
    ];
    for (const [n, share, kind] of groups) {
      if (n === 0) continue;
      const x = fragmentation(rng, n);
      for (let i = 0; i < n; i++) {
        const pt = p.pt * share * x[i];
        // softer particles spread wider
        const s = width * (0.4 + 1.2 / (1 + 10 * x[i]));
        const eta = p.eta + rng.normal(0, s);
        const phi = p.phi + rng.normal(0, s);
        if (kind === 0) this.charged(eta, phi, pt, rng, tracks);
        else this.deposit(eta, phi, pt * Math.cosh(eta), kind === 1 ? 1 : 0);
      }
    }
  }

  private charged(eta: number, phi: number, pt: number, rng: Rng, tracks: Float32Array): void {
    if (pt >= DETECTOR.trackPtMin) {
      const idx = this.index(eta, phi);
      if (idx >= 0) tracks[idx] += 1;
    }
    this.deposit(eta, phi, pt * Math.cosh(eta), rng.uniform() * DETECTOR.hadronEmMax);
  }

  /** Energy into the cell hit and its neighbours (a shower wider than a cell), split into EM and hadronic. */
  private deposit(eta: number, phi: number, e: number, emShare: number): void {
    const idx = this.index(eta, phi);
    if (idx < 0) return;
    const S = this.size;
    const y = Math.floor(idx / S);
    const x = idx % S;
    // 60% in the cell hit, 10% in each of the four neighbours (η edges: kept in the hit cell)
    const spread = emShare >= 1 ? 0.05 : 0.1;
    let centre = 1 - 4 * spread;
    const add = (c: number, v: number) => {
      this.em[c] += v * emShare;
      this.had[c] += v * (1 - emShare);
    };
    for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
      const yy = y + dy;
      if (yy < 0 || yy >= S) {
        centre += spread;
        continue;
      }
      add(yy * S + ((x + dx + S) % S), e * spread);
    }
    add(idx, e * centre);
  }

  private index(eta: number, phi: number): number {
    const S = this.size;
    const y = Math.floor(((eta + ETA_MAX) / (2 * ETA_MAX)) * S);
    if (y < 0 || y >= S) return -1;
    const x = Math.floor(((wrapPhi(phi) + Math.PI) / TWO_PI) * S) % S;
    return y * S + x;
  }
}

/** Momentum fractions of n particles: exponential draws, normalised (a leading particle is typical). */
function fragmentation(rng: Rng, n: number): number[] {
  const x = Array.from({ length: n }, () => rng.exponential(1));
  const s = x.reduce((a, b) => a + b, 0);
  return x.map((v) => v / s);
}
