/* RepOps' hottest CPU programs as single loops: the same IEEE operations, in the same order, as their
 * Python definitions (verde/repops/transcendental.py, quantize.py, reduce.py), so the same bits.
 *
 * Why it is exact to do this in C: every step is one correctly rounded IEEE-754 double operation (+ - * /,
 * a float<->double conversion), an exact comparison/selection or exact integer bit manipulation. The build
 * passes -ffp-contract=off (no multiply-add is fused into an FMA) and never -ffast-math (no reassociation),
 * so the compiler may vectorize a loop at any width but cannot change a result (-fno-trapping-math only lets it
 * evaluate both sides of a selection, which needs no FP exception flag: no value changes): elementwise code has no
 * order to change, and the only reductions here are maxima (exact) and sums of values on a shared grid
 * whose every partial sum is an exact double (reduce.py's argument), which no order changes either.
 * Nothing here calls libm (-fno-math-errno: sqrt is the IEEE instruction alone, no errno call).
 *
 * Interface: Python ints holding the data pointers of contiguous CPU tensors the caller keeps alive,
 * element counts, and a pointer to a contiguous float64 tensor of polynomial coefficients (lowest degree
 * first, evaluated by Horner's rule exactly as transcendental._horner does). Callers in
 * verde/repops/compiled.py check dtypes, devices and layouts; these functions trust them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* one build for every x86-64 CPU, its loops vectorized for each of these (VERDE_NO_CLONES: only for the flags
 * given; tests/unit/test_repops_compiled.py builds it so at several ISA levels and compares the bits) */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(VERDE_NO_CLONES)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

static const double INV_LN2 = 1.4426950408889634;
static const double LN2 = 0.6931471805599453;
static const double EXP_SHIFT = 1.5 * 4503599627370496.0 + 1024.0; /* 1.5 * 2**52 + 1024 */
static const uint64_t F64_EXPONENT = 0x7FF0000000000000ULL;

static inline double bits_f64(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static inline uint64_t f64_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* torch.clamp(v, lo, hi): a NaN stays itself */
static inline double clampd(double v, double lo, double hi) {
    v = v < lo ? lo : v; /* (two selections, which vectorize as blends) */
    return v > hi ? hi : v;
}

/* The polynomials' lengths (transcendental._EXP_R_TERMS and _ERF_FIT_TERMS; the bindings check them): as
 * constants the Horner loops unroll and the element loops vectorize. */
#define EXP_TERMS 4
#define ERF_TERMS 12

/* transcendental._horner: acc = z*c[m-1] + c[m-2], then acc = acc*z + c[i] for i = m-3 .. 0 (m >= 2) */
#define HORNER(c, m, z, acc)                                                                                \
    do {                                                                                                   \
        acc = (z) * (c)[(m) - 1];                                                                          \
        acc = acc + (c)[(m) - 2];                                                                          \
        _Pragma("GCC unroll 16") for (int i_ = (m) - 3; i_ >= 0; i_--) {                                   \
            acc = acc * (z);                                                                               \
            acc = acc + (c)[i_];                                                                           \
        }                                                                                                  \
    } while (0)

/* transcendental.exp64_: t clamped to [-700, 700]; k = round(t / ln2) via the shift; r = t - k ln2;
 * q = r / (R(r^2) - r); e**t = (q + 1/2) 2**(k + 1), 2**(k + 1) from the shift's low bits. */
static inline double exp64(double t, const double *restrict c) {
    t = clampd(t, -700.0, 700.0);
    double s = t * INV_LN2;
    s = s + EXP_SHIFT;
    double r = s - EXP_SHIFT;
    r = r * -LN2;
    r = r + t;
    double z = r * r;
    double den;
    HORNER(c, EXP_TERMS, z, den);
    den = den - r;
    double p = bits_f64(f64_bits(s) << 52);
    double q = r / den;
    q = q + 0.5;
    return q * p;
}

/* transcendental._erf_scaled's polynomial on the clamped argument: xc P(xc^2) */
static inline double erf_poly(double x, const double *restrict c, double bound) {
    double xc = clampd(x, -bound, bound);
    double z = xc * xc;
    double y;
    HORNER(c, ERF_TERMS, z, y);
    return y * xc;
}

/* 1 where the clamp to ±bound changes x or x is NaN: that element's value must come from erf's tail */
static inline int64_t past(double x, double bound) { return (x > bound) | (x < -bound) | (x != x); }

/* ---- elementwise programs -------------------------------------------------------------------------- */

CLONES static void exp_f64(const double *restrict src, double *restrict dst, Py_ssize_t n,
                           const double *restrict c) {
    for (Py_ssize_t i = 0; i < n; i++) dst[i] = exp64(src[i], c);
}

/* (in place: dst == src, which restrict does not allow, so its own loop) */
CLONES static void exp_f64_inplace(double *restrict x, Py_ssize_t n, const double *restrict c) {
    for (Py_ssize_t i = 0; i < n; i++) x[i] = exp64(x[i], c);
}

CLONES static void exp_f32(const float *restrict src, float *restrict dst, Py_ssize_t n,
                           const double *restrict c) {
    for (Py_ssize_t i = 0; i < n; i++) dst[i] = (float)exp64((double)src[i], c);
}

/* erf's polynomial on the clamped argument, and how many elements it does not cover (past the switch) */
#define ERF_LOOP(NAME, T)                                                                                   \
    CLONES static int64_t NAME(const T *restrict src, T *restrict dst, Py_ssize_t n, const double *restrict c, \
                               double bound) {                                                              \
        int64_t changed = 0;                                                                                \
        for (Py_ssize_t i = 0; i < n; i++) {                                                                \
            double x = (double)src[i];                                                                      \
            changed += past(x, bound);                                                                      \
            dst[i] = (T)erf_poly(x, c, bound);                                                              \
        }                                                                                                   \
        return changed;                                                                                     \
    }
ERF_LOOP(erf_f64, double)
ERF_LOOP(erf_f32, float)

/* transcendental.gelu_erf: (erf(x / sqrt 2) / 2 + 1/2) x, c the halved fit for variance 2 */
CLONES static int64_t gelu_erf_f32(const float *restrict src, float *restrict dst, Py_ssize_t n,
                                   const double *restrict c, double bound) {
    int64_t changed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double x = (double)src[i];
        changed += past(x, bound);
        double y = erf_poly(x, c, bound);
        y = y + 0.5;
        dst[i] = (float)(y * x);
    }
    return changed;
}

/* transcendental.gelu_erf_backward: grad (x phi(x) + Phi(x)), x phi(x) = exp64(x x -1/2) x / sqrt(2 pi) */
CLONES static int64_t gelu_erf_backward_f32(const float *restrict grad, const float *restrict src,
                                            float *restrict dst, Py_ssize_t n, const double *restrict c,
                                            double bound, const double *restrict ce, double inv_sqrt_2pi) {
    int64_t changed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double x = (double)src[i];
        changed += past(x, bound);
        double t = x * x;
        t = t * -0.5;
        double pdf = exp64(t, ce);
        pdf = pdf * x;
        pdf = pdf * inv_sqrt_2pi;
        double cdf = erf_poly(x, c, bound);
        cdf = cdf + 0.5;
        double d = pdf + cdf;
        dst[i] = (float)(d * (double)grad[i]);
    }
    return changed;
}

/* ---- erf's tail: |x| past the switch, from the Taylor table (transcendental._erf_tail) ------------------- */
#define ERF_PIECES 65
#define ERF_DEGREE 8

typedef struct {
    const double *table; /* (ERF_DEGREE + 1) x ERF_PIECES, row n the n-th Taylor coefficient at each centre */
    double inv_step, step, scale, bound;
} erf_tail_t;

/* v rounded to an integer, ties to even, for 0 <= v < 2**52 (or NaN, which stays NaN): v + 2**52 lands in the
 * binade whose ulp is 1, so the IEEE addition rounds, and the subtraction is exact */
static inline double round_even(double v) {
    double r = v + 4503599627370496.0;
    return r - 4503599627370496.0;
}

/* erf of t >= 0 (or NaN) from the table: clamped at 6, piece i = round(t / step) (NaN: 0), s = t - i step */
static double erf_tail(double t, const erf_tail_t *e) {
    t = t > 6.0 ? 6.0 : t;
    double i = round_even(t * e->inv_step);
    if (i != i) i = 0.0;
    double s = i * e->step;
    s = t - s;
    Py_ssize_t idx = (Py_ssize_t)i;
    double acc = e->table[ERF_DEGREE * ERF_PIECES + idx];
    for (int k = ERF_DEGREE - 1; k >= 0; k--) {
        acc = acc * s;
        acc = acc + e->table[k * ERF_PIECES + idx];
    }
    return acc;
}

/* transcendental._erf_scaled's value for an element past the switch: erf(x scale), halved if `half` */
static inline double erf_past(double x, const erf_tail_t *e, int half) {
    double t = x * e->scale; /* (scale 1 for erf itself: exact) */
    double y = __builtin_copysign(erf_tail(__builtin_fabs(t), e), t); /* (exact bit operations) */
    return half ? y * 0.5 : y;
}

/* 1 for each block of 64 elements holding one past the switch (a vectorized scan: usually none is) */
#define PAST_BLOCK 64
#define BLOCK_FLAGS(NAME, T)                                                                               \
    CLONES static void NAME(const T *restrict src, Py_ssize_t n, double bound, uint8_t *restrict flags) {  \
        Py_ssize_t nb = n / PAST_BLOCK;                                                                    \
        for (Py_ssize_t b = 0; b < nb; b++) {                                                              \
            int64_t any = 0;                                                                               \
            for (Py_ssize_t l = 0; l < PAST_BLOCK; l++) any |= past((double)src[b * PAST_BLOCK + l], bound); \
            flags[b] = any != 0;                                                                           \
        }                                                                                                  \
        if (n % PAST_BLOCK) flags[nb] = 1;                                                                 \
    }
BLOCK_FLAGS(past_blocks_f32, float)
BLOCK_FLAGS(past_blocks_f64, double)

/* Runs BODY for each element i past the switch (src is float or double, as BLOCKS scans it) */
#define FOR_PAST(BLOCKS, src, n, bound, BODY)                                                              \
    do {                                                                                                   \
        Py_ssize_t nb_ = ((n) + PAST_BLOCK - 1) / PAST_BLOCK;                                              \
        uint8_t *flags_ = PyMem_RawMalloc((size_t)(nb_ ? nb_ : 1));                                        \
        if (flags_ == NULL) return -1;                                                                     \
        BLOCKS(src, n, bound, flags_);                                                                     \
        for (Py_ssize_t b_ = 0; b_ < nb_; b_++) {                                                          \
            if (!flags_[b_]) continue;                                                                     \
            Py_ssize_t end_ = (b_ + 1) * PAST_BLOCK < (n) ? (b_ + 1) * PAST_BLOCK : (n);                   \
            for (Py_ssize_t i = b_ * PAST_BLOCK; i < end_; i++)                                            \
                if (past((double)(src)[i], bound)) { BODY; }                                               \
        }                                                                                                  \
        PyMem_RawFree(flags_);                                                                             \
        return 0;                                                                                          \
    } while (0)

static int erf_tails_f64(const double *src, double *dst, Py_ssize_t n, const erf_tail_t *e, int half) {
    FOR_PAST(past_blocks_f64, src, n, e->bound, dst[i] = erf_past(src[i], e, half));
}

static int erf_tails_f32(const float *src, float *dst, Py_ssize_t n, const erf_tail_t *e, int half) {
    FOR_PAST(past_blocks_f32, src, n, e->bound, dst[i] = (float)erf_past((double)src[i], e, half));
}

static int gelu_erf_tails(const float *src, float *dst, Py_ssize_t n, const erf_tail_t *e) {
    FOR_PAST(past_blocks_f32, src, n, e->bound, {
        double x = (double)src[i];
        double y = erf_past(x, e, 1);
        y = y + 0.5;
        dst[i] = (float)(y * x);
    });
}

static int gelu_erf_backward_tails(const float *grad, const float *src, float *dst, Py_ssize_t n,
                                   const erf_tail_t *e, const double *ce, double inv_sqrt_2pi) {
    FOR_PAST(past_blocks_f32, src, n, e->bound, {
        double x = (double)src[i];
        double t = x * x;
        t = t * -0.5;
        double pdf = exp64(t, ce);
        pdf = pdf * x;
        pdf = pdf * inv_sqrt_2pi;
        double cdf = erf_past(x, e, 1);
        cdf = cdf + 0.5;
        double d = pdf + cdf;
        dst[i] = (float)(d * (double)grad[i]);
    });
}

/* ---- slices on a shared grid ----------------------------------------------------------------------- */
/* A dense block viewed as (A, n, B) row-major: slice (a, b) is the n elements a*n*B + j*B + b. */

/* quantize.slice_magic_f64 of a slice maximum already widened to double: 2**floor(log2 mx) * k */
static inline double grid_magic(double mx, double k) {
    return bits_f64(f64_bits(mx) & F64_EXPONENT) * k;
}

/* the largest |x| bit pattern per slice (non-negative floats order as their bits; NaN above inf) */
#define ABSMAX_BITS(NAME, T, U, BITS, MASK)                                                                 \
    CLONES static void NAME(const T *x, U *mx, Py_ssize_t A, Py_ssize_t n, Py_ssize_t B) {                  \
        for (Py_ssize_t a = 0; a < A; a++) {                                                                \
            const T *blk = x + a * n * B;                                                                   \
            U *out = mx + a * B;                                                                            \
            if (B == 1) {                                                                                   \
                U best = 0;                                                                                 \
                for (Py_ssize_t j = 0; j < n; j++) {                                                        \
                    U u = BITS(blk[j]) & MASK;                                                              \
                    best = u > best ? u : best;                                                             \
                }                                                                                           \
                out[0] = best;                                                                              \
                continue;                                                                                   \
            }                                                                                               \
            for (Py_ssize_t b = 0; b < B; b++) out[b] = 0;                                                  \
            for (Py_ssize_t j = 0; j < n; j++) {                                                            \
                const T *row = blk + j * B;                                                                 \
                for (Py_ssize_t b = 0; b < B; b++) {                                                        \
                    U u = BITS(row[b]) & MASK;                                                              \
                    out[b] = u > out[b] ? u : out[b];                                                       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }
ABSMAX_BITS(absmax_bits_f32, float, uint32_t, f32_bits, 0x7FFFFFFFu)
ABSMAX_BITS(absmax_bits_f64, double, uint64_t, f64_bits, 0x7FFFFFFFFFFFFFFFULL)

/* the rounding constants M (A*B of them) from the slice maxima's bits */
static void magics(const void *mxbits, int f32, double *M, Py_ssize_t count, double k) {
    for (Py_ssize_t i = 0; i < count; i++) {
        double mx;
        if (f32) {
            float f;
            memcpy(&f, (const uint32_t *)mxbits + i, 4);
            mx = (double)f;
        } else {
            memcpy(&mx, (const uint64_t *)mxbits + i, 8);
        }
        M[i] = grid_magic(mx, k);
    }
}

/* quantize.quantize_f64 (x float32): each element rounded to its slice's grid, x + M - M, as a double */
CLONES static void round_f32_to_f64(const float *x, double *dst, const double *M, Py_ssize_t A, Py_ssize_t n,
                                    Py_ssize_t B) {
    for (Py_ssize_t a = 0; a < A; a++) {
        const float *blk = x + a * n * B;
        double *o = dst + a * n * B;
        const double *Ma = M + a * B;
        if (B == 1) {
            double m = Ma[0];
            for (Py_ssize_t j = 0; j < n; j++) {
                double v = (double)blk[j] + m;
                o[j] = v - m;
            }
            continue;
        }
        for (Py_ssize_t j = 0; j < n; j++) {
            const float *row = blk + j * B;
            double *orow = o + j * B;
            for (Py_ssize_t b = 0; b < B; b++) {
                double v = (double)row[b] + Ma[b];
                orow[b] = v - Ma[b];
            }
        }
    }
}

/* reduce.grid_sum64: per slice, the sum of x + M - M (every partial sum exact, so any order) */
#define GRID_SUM(NAME, T)                                                                                  \
    CLONES static void NAME(const T *x, double *dst, const double *M, Py_ssize_t A, Py_ssize_t n,          \
                            Py_ssize_t B) {                                                                \
        for (Py_ssize_t a = 0; a < A; a++) {                                                               \
            const T *blk = x + a * n * B;                                                                  \
            double *o = dst + a * B;                                                                       \
            const double *Ma = M + a * B;                                                                  \
            if (B == 1) { /* eight partial sums (exact, so their grouping changes nothing) */              \
                double m = Ma[0], acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};                     \
                Py_ssize_t j = 0;                                                                          \
                for (; j + 8 <= n; j += 8)                                                                 \
                    for (int l = 0; l < 8; l++) {                                                          \
                        double v = (double)blk[j + l] + m;                                                 \
                        acc[l] += v - m;                                                                   \
                    }                                                                                      \
                for (; j < n; j++) {                                                                       \
                    double v = (double)blk[j] + m;                                                         \
                    acc[0] += v - m;                                                                       \
                }                                                                                          \
                o[0] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));  \
                continue;                                                                                  \
            }                                                                                              \
            for (Py_ssize_t b = 0; b < B; b++) o[b] = 0.0;                                                 \
            for (Py_ssize_t j = 0; j < n; j++) {                                                           \
                const T *row = blk + j * B;                                                                \
                for (Py_ssize_t b = 0; b < B; b++) {                                                       \
                    double v = (double)row[b] + Ma[b];                                                     \
                    o[b] += v - Ma[b];                                                                     \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
    }
GRID_SUM(grid_sum_f32, float)
GRID_SUM(grid_sum_f64, double)

/* ---- rows: layer norm and softmax over the last dim ------------------------------------------------- */

/* reduce.grid_sum64 of one row of doubles: the loops above on a (1, n, 1) block */
static inline double row_grid_sum(const double *restrict v, Py_ssize_t n, double k) {
    uint64_t best;
    double m, sum;
    absmax_bits_f64(v, &best, 1, n, 1);
    m = grid_magic(bits_f64(best), k);
    grid_sum_f64(v, &sum, &m, 1, n, 1);
    return sum;
}

/* aten.native_layer_norm (verde/repops/aten/norms.py) over rows of n float32: mu = sum / n, d = x - mu,
 * var = sum(d d) / n, r = 1 / sqrt(var + eps), y = d r w + b, all in double; w, b may be NULL */
CLONES static int layer_norm_f32(const float *restrict x, const float *restrict w, const float *restrict b,
                                 float *restrict y, float *restrict mu_out, float *restrict rstd_out,
                                 Py_ssize_t rows, Py_ssize_t n, double eps, double k) {
    double *buf = PyMem_RawMalloc((size_t)(n ? n : 1) * sizeof(double));
    if (buf == NULL) return -1;
    double nf = (double)n;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        for (Py_ssize_t j = 0; j < n; j++) buf[j] = (double)xr[j];
        double mu = row_grid_sum(buf, n, k) / nf;
        for (Py_ssize_t j = 0; j < n; j++) {
            double d = buf[j] - mu;
            buf[j] = d * d;
        }
        double var = row_grid_sum(buf, n, k) / nf;
        var = var + eps;
        double rs = 1.0 / __builtin_sqrt(var); /* (sqrt: correctly rounded IEEE) */
        float *yr = y + r * n;
        for (Py_ssize_t j = 0; j < n; j++) {
            double d = (double)xr[j] - mu;
            double v = d * rs;
            if (w != NULL) v = v * (double)w[j];
            if (b != NULL) v = v + (double)b[j];
            yr[j] = (float)v;
        }
        mu_out[r] = (float)mu;
        rstd_out[r] = (float)rs;
    }
    PyMem_RawFree(buf);
    return 0;
}

/* the row maximum of float32 values (a NaN anywhere gives a NaN, as amax) */
static inline float row_max(const float *restrict x, Py_ssize_t n) {
    float m = x[0];
    for (Py_ssize_t j = 1; j < n; j++) m = (x[j] > m || x[j] != x[j]) ? x[j] : m;
    return m;
}

/* aten._softmax over rows (norms.softmax): e = exp64(x - max), out = e / grid_sum(e); with sums != NULL the
 * rows' sums of e go there instead (for log_softmax) and out is not written */
CLONES static int softmax_f32(const float *restrict x, float *restrict out, double *restrict sums,
                              double *restrict maxima, Py_ssize_t rows, Py_ssize_t n, const double *restrict c,
                              double k) {
    double *e = PyMem_RawMalloc((size_t)(n ? n : 1) * sizeof(double));
    if (e == NULL) return -1;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        double mx = (double)row_max(xr, n);
        for (Py_ssize_t j = 0; j < n; j++) {
            double z = (double)xr[j] - mx;
            e[j] = exp64(z, c);
        }
        double s = row_grid_sum(e, n, k);
        if (sums != NULL) {
            sums[r] = s;
            maxima[r] = mx;
            continue;
        }
        float *o = out + r * n;
        for (Py_ssize_t j = 0; j < n; j++) o[j] = (float)(e[j] / s);
    }
    PyMem_RawFree(e);
    return 0;
}

/* log_softmax's last step: out = (x - max) - lse per row */
CLONES static void shift_sub_f32(const float *restrict x, const double *restrict maxima,
                                 const double *restrict lse, float *restrict out, Py_ssize_t rows, Py_ssize_t n) {
    for (Py_ssize_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *o = out + r * n;
        for (Py_ssize_t j = 0; j < n; j++) {
            double z = (double)xr[j] - maxima[r];
            o[j] = (float)(z - lse[r]);
        }
    }
}

/* ---- Python bindings ------------------------------------------------------------------------------- */

static int ptr_arg(PyObject *o, void **p) {
    *p = PyLong_AsVoidPtr(o);
    return !(*p == NULL && PyErr_Occurred());
}

static int ssize_arg(PyObject *o, Py_ssize_t *v) {
    *v = PyLong_AsSsize_t(o);
    return !(*v == -1 && PyErr_Occurred());
}

static int terms_ok(Py_ssize_t got, Py_ssize_t want, const char *name) {
    if (got == want) return 1;
    PyErr_Format(PyExc_ValueError, "%s: %zd polynomial coefficients, built for %zd", name, got, want);
    return 0;
}

static int nargs_ok(Py_ssize_t got, Py_ssize_t want, const char *name) {
    if (got == want) return 1;
    PyErr_Format(PyExc_TypeError, "%s takes %zd arguments, got %zd", name, want, got);
    return 0;
}

/* exp(src, dst, n, dtype_bits (32|64), coef, m) */
static PyObject *py_exp(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *src, *dst, *c;
    Py_ssize_t n, bits, m;
    if (!nargs_ok(nargs, 6, "exp") || !ptr_arg(args[0], &src) || !ptr_arg(args[1], &dst) ||
        !ssize_arg(args[2], &n) || !ssize_arg(args[3], &bits) || !ptr_arg(args[4], &c) || !ssize_arg(args[5], &m) ||
        !terms_ok(m, EXP_TERMS, "exp"))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    if (bits == 32) exp_f32(src, dst, n, c);
    else if (src == dst) exp_f64_inplace(dst, n, c);
    else exp_f64(src, dst, n, c);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* erf(src, dst, n, dtype_bits, coef, m, bound) -> elements the clamp changed */
static PyObject *py_erf(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *src, *dst, *c;
    Py_ssize_t n, bits, m;
    int64_t changed;
    if (!nargs_ok(nargs, 7, "erf") || !ptr_arg(args[0], &src) || !ptr_arg(args[1], &dst) ||
        !ssize_arg(args[2], &n) || !ssize_arg(args[3], &bits) || !ptr_arg(args[4], &c) || !ssize_arg(args[5], &m) ||
        !terms_ok(m, ERF_TERMS, "erf"))
        return NULL;
    double bound = PyFloat_AsDouble(args[6]);
    if (bound == -1.0 && PyErr_Occurred()) return NULL;
    Py_BEGIN_ALLOW_THREADS
    if (bits == 32) changed = erf_f32(src, dst, n, c, bound);
    else changed = erf_f64(src, dst, n, c, bound);
    Py_END_ALLOW_THREADS
    return PyLong_FromLongLong(changed);
}

/* gelu_erf(src, dst, n, coef, m, bound) -> elements the clamp changed (float32 in and out) */
static PyObject *py_gelu_erf(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *src, *dst, *c;
    Py_ssize_t n, m;
    int64_t changed;
    if (!nargs_ok(nargs, 6, "gelu_erf") || !ptr_arg(args[0], &src) || !ptr_arg(args[1], &dst) ||
        !ssize_arg(args[2], &n) || !ptr_arg(args[3], &c) || !ssize_arg(args[4], &m) ||
        !terms_ok(m, ERF_TERMS, "gelu_erf"))
        return NULL;
    double bound = PyFloat_AsDouble(args[5]);
    if (bound == -1.0 && PyErr_Occurred()) return NULL;
    Py_BEGIN_ALLOW_THREADS
    changed = gelu_erf_f32(src, dst, n, c, bound);
    Py_END_ALLOW_THREADS
    return PyLong_FromLongLong(changed);
}

/* gelu_erf_backward(grad, src, dst, n, coef, m, bound, exp_coef, exp_m, inv_sqrt_2pi) -> changed */
static PyObject *py_gelu_erf_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *grad, *src, *dst, *c, *ce;
    Py_ssize_t n, m, me;
    int64_t changed;
    if (!nargs_ok(nargs, 10, "gelu_erf_backward") || !ptr_arg(args[0], &grad) || !ptr_arg(args[1], &src) ||
        !ptr_arg(args[2], &dst) || !ssize_arg(args[3], &n) || !ptr_arg(args[4], &c) || !ssize_arg(args[5], &m) ||
        !ptr_arg(args[7], &ce) || !ssize_arg(args[8], &me) || !terms_ok(m, ERF_TERMS, "gelu_erf_backward") ||
        !terms_ok(me, EXP_TERMS, "gelu_erf_backward"))
        return NULL;
    double bound = PyFloat_AsDouble(args[6]);
    if (bound == -1.0 && PyErr_Occurred()) return NULL;
    double k = PyFloat_AsDouble(args[9]);
    if (k == -1.0 && PyErr_Occurred()) return NULL;
    Py_BEGIN_ALLOW_THREADS
    changed = gelu_erf_backward_f32(grad, src, dst, n, c, bound, ce, k);
    Py_END_ALLOW_THREADS
    return PyLong_FromLongLong(changed);
}

/* tails(kind, src, grad, dst, n, dtype_bits, table, pieces, inv_step, step, scale, bound, half, exp_coef,
 *       exp_m, inv_sqrt_2pi): overwrite the elements past erf's switch with their tail values; kind 0 erf,
 *       1 gelu_erf, 2 gelu_erf_backward (grad and the exp arguments are read by kind 2 only) */
static PyObject *py_tails(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t kind, n, bits, pieces, half, me;
    void *src, *grad, *dst, *table, *ce;
    erf_tail_t e;
    if (!nargs_ok(nargs, 16, "tails") || !ssize_arg(args[0], &kind) || !ptr_arg(args[1], &src) ||
        !ptr_arg(args[2], &grad) || !ptr_arg(args[3], &dst) || !ssize_arg(args[4], &n) ||
        !ssize_arg(args[5], &bits) || !ptr_arg(args[6], &table) || !ssize_arg(args[7], &pieces) ||
        !terms_ok(pieces, ERF_PIECES, "tails") || !ssize_arg(args[12], &half) || !ptr_arg(args[13], &ce) ||
        !ssize_arg(args[14], &me) || !terms_ok(me, EXP_TERMS, "tails"))
        return NULL;
    double d[5];
    for (int k = 0; k < 4; k++) {
        d[k] = PyFloat_AsDouble(args[8 + k]);
        if (d[k] == -1.0 && PyErr_Occurred()) return NULL;
    }
    d[4] = PyFloat_AsDouble(args[15]);
    if (d[4] == -1.0 && PyErr_Occurred()) return NULL;
    e.table = table;
    e.inv_step = d[0];
    e.step = d[1];
    e.scale = d[2];
    e.bound = d[3];
    int rc;
    Py_BEGIN_ALLOW_THREADS
    if (kind == 0 && bits == 32) rc = erf_tails_f32(src, dst, n, &e, (int)half);
    else if (kind == 0) rc = erf_tails_f64(src, dst, n, &e, (int)half);
    else if (kind == 1) rc = gelu_erf_tails(src, dst, n, &e);
    else rc = gelu_erf_backward_tails(grad, src, dst, n, &e, ce, d[4]);
    Py_END_ALLOW_THREADS
    if (rc) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* slice maxima and rounding constants for a dense (A, n, B) block; returns a new buffer or NULL */
static double *slice_magics(const void *src, int f32, Py_ssize_t A, Py_ssize_t n, Py_ssize_t B, double k) {
    Py_ssize_t count = A * B;
    void *mx = PyMem_RawMalloc((size_t)(count ? count : 1) * 8);
    double *M = PyMem_RawMalloc((size_t)(count ? count : 1) * sizeof(double));
    if (mx == NULL || M == NULL) {
        PyMem_RawFree(mx);
        PyMem_RawFree(M);
        return NULL;
    }
    if (f32) absmax_bits_f32(src, mx, A, n, B);
    else absmax_bits_f64(src, mx, A, n, B);
    magics(mx, f32, M, count, k);
    PyMem_RawFree(mx);
    return M;
}

static int shape_args(PyObject *const *args, Py_ssize_t *A, Py_ssize_t *n, Py_ssize_t *B) {
    return ssize_arg(args[0], A) && ssize_arg(args[1], n) && ssize_arg(args[2], B);
}

/* quantize(src f32, dst f64, A, n, B, k): k = 1.5 * 2**(53 - bits) */
static PyObject *py_quantize(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *src, *dst;
    Py_ssize_t A, n, B;
    if (!nargs_ok(nargs, 6, "quantize") || !ptr_arg(args[0], &src) || !ptr_arg(args[1], &dst) ||
        !shape_args(args + 2, &A, &n, &B))
        return NULL;
    double k = PyFloat_AsDouble(args[5]);
    if (k == -1.0 && PyErr_Occurred()) return NULL;
    double *M = NULL;
    Py_BEGIN_ALLOW_THREADS
    M = slice_magics(src, 1, A, n, B, k);
    if (M != NULL) round_f32_to_f64(src, dst, M, A, n, B);
    Py_END_ALLOW_THREADS
    if (M == NULL) return PyErr_NoMemory();
    PyMem_RawFree(M);
    Py_RETURN_NONE;
}

/* grid_sum(src, dst f64 (A*B), A, n, B, dtype_bits, k) */
static PyObject *py_grid_sum(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *src, *dst;
    Py_ssize_t A, n, B, bits;
    if (!nargs_ok(nargs, 7, "grid_sum") || !ptr_arg(args[0], &src) || !ptr_arg(args[1], &dst) ||
        !shape_args(args + 2, &A, &n, &B) || !ssize_arg(args[5], &bits))
        return NULL;
    double k = PyFloat_AsDouble(args[6]);
    if (k == -1.0 && PyErr_Occurred()) return NULL;
    double *M = NULL;
    int f32 = bits == 32;
    Py_BEGIN_ALLOW_THREADS
    M = slice_magics(src, f32, A, n, B, k);
    if (M != NULL) {
        if (f32) grid_sum_f32(src, dst, M, A, n, B);
        else grid_sum_f64(src, dst, M, A, n, B);
    }
    Py_END_ALLOW_THREADS
    if (M == NULL) return PyErr_NoMemory();
    PyMem_RawFree(M);
    Py_RETURN_NONE;
}

/* layer_norm(x, w or 0, b or 0, y, mu, rstd, rows, n, eps, k) */
static PyObject *py_layer_norm(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *x, *w, *b, *y, *mu, *rs;
    Py_ssize_t rows, n;
    if (!nargs_ok(nargs, 10, "layer_norm") || !ptr_arg(args[0], &x) || !ptr_arg(args[1], &w) ||
        !ptr_arg(args[2], &b) || !ptr_arg(args[3], &y) || !ptr_arg(args[4], &mu) || !ptr_arg(args[5], &rs) ||
        !ssize_arg(args[6], &rows) || !ssize_arg(args[7], &n))
        return NULL;
    double eps = PyFloat_AsDouble(args[8]);
    if (eps == -1.0 && PyErr_Occurred()) return NULL;
    double k = PyFloat_AsDouble(args[9]);
    if (k == -1.0 && PyErr_Occurred()) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = layer_norm_f32(x, w, b, y, mu, rs, rows, n, eps, k);
    Py_END_ALLOW_THREADS
    if (rc) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* softmax(x, out or 0, sums or 0, maxima or 0, rows, n, exp_coef, exp_m, k) */
static PyObject *py_softmax(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *x, *out, *sums, *maxima, *c;
    Py_ssize_t rows, n, m;
    if (!nargs_ok(nargs, 9, "softmax") || !ptr_arg(args[0], &x) || !ptr_arg(args[1], &out) ||
        !ptr_arg(args[2], &sums) || !ptr_arg(args[3], &maxima) || !ssize_arg(args[4], &rows) ||
        !ssize_arg(args[5], &n) || !ptr_arg(args[6], &c) || !ssize_arg(args[7], &m) ||
        !terms_ok(m, EXP_TERMS, "softmax"))
        return NULL;
    double k = PyFloat_AsDouble(args[8]);
    if (k == -1.0 && PyErr_Occurred()) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = softmax_f32(x, out, sums, maxima, rows, n, c, k);
    Py_END_ALLOW_THREADS
    if (rc) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* shift_sub(x, maxima, lse, out, rows, n) */
static PyObject *py_shift_sub(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    void *x, *maxima, *lse, *out;
    Py_ssize_t rows, n;
    if (!nargs_ok(nargs, 6, "shift_sub") || !ptr_arg(args[0], &x) || !ptr_arg(args[1], &maxima) ||
        !ptr_arg(args[2], &lse) || !ptr_arg(args[3], &out) || !ssize_arg(args[4], &rows) || !ssize_arg(args[5], &n))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    shift_sub_f32(x, maxima, lse, out, rows, n);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"layer_norm", (PyCFunction)(void (*)(void))py_layer_norm, METH_FASTCALL, "layer norm over rows"},
    {"softmax", (PyCFunction)(void (*)(void))py_softmax, METH_FASTCALL, "softmax over rows"},
    {"shift_sub", (PyCFunction)(void (*)(void))py_shift_sub, METH_FASTCALL, "log_softmax's (x - max) - lse"},
    {"exp", (PyCFunction)(void (*)(void))py_exp, METH_FASTCALL, "exp64 over a contiguous buffer"},
    {"erf", (PyCFunction)(void (*)(void))py_erf, METH_FASTCALL, "erf's clamped polynomial over a buffer"},
    {"gelu_erf", (PyCFunction)(void (*)(void))py_gelu_erf, METH_FASTCALL, "x Phi(x), float32"},
    {"gelu_erf_backward", (PyCFunction)(void (*)(void))py_gelu_erf_backward, METH_FASTCALL,
     "grad (Phi(x) + x phi(x)), float32"},
    {"tails", (PyCFunction)(void (*)(void))py_tails, METH_FASTCALL, "erf's tail values past the switch"},
    {"quantize", (PyCFunction)(void (*)(void))py_quantize, METH_FASTCALL, "grid rounding per slice"},
    {"grid_sum", (PyCFunction)(void (*)(void))py_grid_sum, METH_FASTCALL, "exact sums per slice"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_compiled", NULL, -1, methods};

PyMODINIT_FUNC PyInit__compiled(void) { return PyModule_Create(&module); }
