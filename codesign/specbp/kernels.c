/* Speculative back-propagation: the compiled trainer (docs/specbp.md).
 *
 * One epoch of online training of an MLP (leaky-ReLU hidden layers, softmax output,
 * cross-entropy) whose gradients are summed and applied after input i when i % batch == 0,
 * clipped.  With speculation, thread 0 runs the forward pass of input i while thread 1 runs
 * the backward pass from the stored activations of the last input with the same label,
 * writing accumulator + speculative gradients into the second accumulator buffer; after a
 * barrier thread 0 compares the softmax outputs and either swaps the buffers (hit) or runs the
 * ordinary backward pass into the first (miss).  A second barrier ends the step.  Both threads
 * are the OpenMP team's OS threads; the Python caller holds no lock (ctypes releases the GIL).
 *
 * Each thread of the team is pinned to its own CPU of the process's CPU set for the epoch (the
 * caller's thread gets its own set back at the end): left to the scheduler, the two threads
 * sometimes share a CPU for a while and the overlap is lost.
 *
 * Every gradient element is computed as in + delta * a, in the same order, in both buffers, so
 * a hit on identical activations is bit-identical to the ordinary pass.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_JUNCTIONS 8
#define CLASSES 10

enum { OUTCOME_SERIAL = 0, OUTCOME_HIT = 1, OUTCOME_MISS = 2 };
enum { ERR_JUNCTIONS = -1, ERR_CLASSES = -2, ERR_LABEL = -3, ERR_MEMORY = -4, ERR_BATCH = -5 };

typedef struct {
    int J;
    const int32_t *n;
    int64_t woff[MAX_JUNCTIONS + 1];
    int64_t boff[MAX_JUNCTIONS + 1];
    int64_t widest;
    double slope;
} net_t;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int net_init(net_t *net, int J, const int32_t *n, double slope)
{
    if (J < 1 || J > MAX_JUNCTIONS)
        return ERR_JUNCTIONS;
    if (n[J] != CLASSES)
        return ERR_CLASSES;
    net->J = J;
    net->n = n;
    net->slope = slope;
    net->woff[0] = 0;
    net->boff[0] = 0;
    net->widest = 0;
    for (int l = 0; l < J; l++) {
        net->woff[l + 1] = net->woff[l] + (int64_t)n[l] * n[l + 1];
        net->boff[l + 1] = net->boff[l] + n[l + 1];
    }
    for (int l = 0; l <= J; l++)
        if (n[l] > net->widest)
            net->widest = n[l];
    return 0;
}

#define CHUNK 8

/* z[j] = b[j] + sum_i a[i] w[i][j] for j < m, summed in ascending i; CHUNK outputs at a time
 * in local accumulators, so the sums stay in registers whatever the arrays' addresses. */
static void affine(const double *restrict a, const double *restrict w, const double *restrict b,
                   int64_t k, int64_t m, double *restrict z)
{
    for (int64_t j0 = 0; j0 < m; j0 += CHUNK) {
        if (m - j0 >= CHUNK) {
            double acc[CHUNK];
            for (int jj = 0; jj < CHUNK; jj++)
                acc[jj] = b[j0 + jj];
            for (int64_t i = 0; i < k; i++) {
                const double ai = a[i];
                const double *restrict row = w + i * m + j0;
                for (int jj = 0; jj < CHUNK; jj++)
                    acc[jj] += ai * row[jj];
            }
            for (int jj = 0; jj < CHUNK; jj++)
                z[j0 + jj] = acc[jj];
        } else {
            for (int64_t j = j0; j < m; j++) {
                double acc = b[j];
                for (int64_t i = 0; i < k; i++)
                    acc += a[i] * w[i * m + j];
                z[j] = acc;
            }
        }
    }
}

/* act and pre hold layers 1..J back to back (offsets boff); act of layer J is the softmax;
 * x is the input layer as doubles (the pixels through the table). */
static void forward(const net_t *net, const double *W, const double *B, const double *x,
                    double *act, double *pre)
{
    const double *a = x;
    for (int l = 0; l < net->J; l++) {
        const int64_t m = net->n[l + 1];
        double *z = pre + net->boff[l];
        affine(a, W + net->woff[l], B + net->boff[l], net->n[l], m, z);
        double *out = act + net->boff[l];
        if (l + 1 < net->J) {
            for (int64_t j = 0; j < m; j++)
                out[j] = z[j] > 0 ? z[j] : net->slope * z[j];
        } else {
            double top = z[0];
            for (int64_t j = 1; j < m; j++)
                if (z[j] > top)
                    top = z[j];
            double total = 0;
            for (int64_t j = 0; j < m; j++) {
                out[j] = exp(z[j] - top);
                total += out[j];
            }
            for (int64_t j = 0; j < m; j++)
                out[j] /= total;
        }
        a = out;
    }
}

/* The outer-product update of one junction, g[i][j] + delta[j] * a[i]: in place, and into a
 * second buffer; the same operations in the same order. */
static void outer_inplace(double *restrict g, const double *restrict delta,
                          const double *restrict a, int64_t k, int64_t m)
{
    for (int64_t i = 0; i < k; i++) {
        const double ai = a[i];
        for (int64_t j = 0; j < m; j++)
            g[i * m + j] = g[i * m + j] + delta[j] * ai;
    }
}

static void outer_into(double *restrict go, const double *restrict gi,
                       const double *restrict delta, const double *restrict a, int64_t k,
                       int64_t m)
{
    for (int64_t i = 0; i < k; i++) {
        const double ai = a[i];
        for (int64_t j = 0; j < m; j++)
            go[i * m + j] = gi[i * m + j] + delta[j] * ai;
    }
}

/* gw_out = gw_in + dW, gb_out = gb_in + db for one input (in place when in == out).
 * scratch: 2 * widest doubles. */
static void backward(const net_t *net, const double *W, const double *x, const double *act,
                     const double *pre, int label, const double *gw_in, const double *gb_in,
                     double *gw_out, double *gb_out, double *scratch)
{
    double *delta = scratch, *next = scratch + net->widest;
    const int J = net->J;
    const double *p = act + net->boff[J - 1];
    for (int64_t j = 0; j < CLASSES; j++)
        delta[j] = p[j] - (j == label ? 1.0 : 0.0);
    for (int l = J - 1; l >= 0; l--) {
        const int64_t m = net->n[l + 1];
        const int64_t k = net->n[l];
        const double *a = l == 0 ? x : act + net->boff[l - 1];
        const double *w = W + net->woff[l];
        const double *gi = gw_in + net->woff[l];
        double *go = gw_out + net->woff[l];
        if (go == gi)
            outer_inplace(go, delta, a, k, m);
        else
            outer_into(go, gi, delta, a, k, m);
        for (int64_t j = 0; j < m; j++)
            gb_out[net->boff[l] + j] = gb_in[net->boff[l] + j] + delta[j];
        if (l > 0) {
            const double *z = pre + net->boff[l - 1];
            for (int64_t i = 0; i < k; i++) {
                double e = 0;
                for (int64_t j = 0; j < m; j++)
                    e += w[i * m + j] * delta[j];
                next[i] = e * (z[i] > 0 ? 1.0 : net->slope);
            }
            double *t = delta;
            delta = next;
            next = t;
        }
    }
}

static double clip(double g, double limit)
{
    return g > limit ? limit : (g < -limit ? -limit : g);
}

static void apply(const net_t *net, double *W, double *B, double *gw, double *gb, double lr,
                  double limit)
{
    const int64_t nw = net->woff[net->J], nb = net->boff[net->J];
    for (int64_t i = 0; i < nw; i++) {
        W[i] -= lr * clip(gw[i], limit);
        gw[i] = 0;
    }
    for (int64_t i = 0; i < nb; i++) {
        B[i] -= lr * clip(gb[i], limit);
        gb[i] = 0;
    }
}

static double distance(const double *p, const double *q)
{
    double s = 0;
    for (int j = 0; j < CLASSES; j++)
        s += fabs(p[j] - q[j]);
    return s / CLASSES;
}

/* The CPU the caller runs on (if in `set`) and the next CPUs of `set` after it. */
static void pick_cpus(const cpu_set_t *set, int count, int *cpus)
{
    int cpu = sched_getcpu();
    if (cpu < 0 || !CPU_ISSET(cpu, set))
        for (cpu = 0; !CPU_ISSET(cpu, set); cpu++)
            ;
    cpus[0] = cpu;
    for (int k = 1; k < count; k++) {
        do
            cpu = (cpu + 1) % CPU_SETSIZE;
        while (!CPU_ISSET(cpu, set));
        cpus[k] = cpu;
    }
}

static void pin_to(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

/* Input row r of X (uint8 pixels) as doubles v / 255, as numpy divides them. */
static void pixels(const uint8_t *X, int64_t r, int64_t n0, const double *table, double *x)
{
    const uint8_t *row = X + r * n0;
    for (int64_t i = 0; i < n0; i++)
        x[i] = table[row[i]];
}

/* One epoch over X (count x n[0] uint8 pixels, row-major) with labels Y.
 *   gw/gb: the accumulators (carried across epochs); gw2/gb2: the second buffers (scratch).
 *   stored[c]: row of X of the last input with label c (-1: none); s_act/s_pre: its
 *   activations and pre-activations (CLASSES x boff[J]); all carried across epochs.
 *   speculate 0: the plain trainer (forward, backward, apply); threads 2: overlap the passes;
 *   pin: pin the two threads to two CPUs.
 *   outcome[i]: 0 serial, 1 hit, 2 miss; dist[i]: the softmax distance (NAN when serial);
 *   step_ns[i]: the step's wall time in thread 0, barriers included; phase_ns[3i..3i+2]: the
 *   forward pass (thread 0), the speculative backward pass (its thread) and the serial tail
 *   (decision, ordinary backward on a miss, application, store; thread 0).
 * Returns 0 or a negative ERR_* code. */
int specbp_epoch(int J, const int32_t *n, double *W, double *B, double *gw, double *gb,
                 double *gw2, double *gb2, const uint8_t *X, const int64_t *Y, int64_t count,
                 double threshold, int speculate, int threads, int pin, double lr, double limit,
                 int64_t batch, double slope, int64_t *stored, double *s_act, double *s_pre,
                 int8_t *outcome, double *dist, int64_t *step_ns, int64_t *phase_ns)
{
    net_t net;
    int err = net_init(&net, J, n, slope);
    if (err)
        return err;
    if (batch < 1)
        return ERR_BATCH;
    for (int64_t i = 0; i < count; i++)
        if (Y[i] < 0 || Y[i] >= CLASSES)
            return ERR_LABEL;
    const int64_t A = net.boff[J], n0 = n[0];
    /* per pass: its input row, then its backward scratch, 64-byte separated — the forward pass
     * (and an ordinary backward pass) in lane 0, the speculative pass in lane 1, whichever
     * thread runs it */
    const int64_t lane = (3 * net.widest + 7) / 8 * 8 + 8;
    double *work = aligned_alloc(64, sizeof(double) * (size_t)((2 * A + 7) / 8 * 8 + 2 * lane));
    if (!work)
        return ERR_MEMORY;
    double *act = work, *pre = work + A;
    double *x0 = work + (2 * A + 7) / 8 * 8, *x1 = x0 + lane;
    double table[256];
    for (int v = 0; v < 256; v++)
        table[v] = v / 255.0;
    double *bw[2] = {gw, gw2}, *bb[2] = {gb, gb2};
    int cur = 0;
    const int team = speculate && threads > 1 ? 2 : 1;

    cpu_set_t own;
    int cpus[2] = {0, 0};
    const int pinned = team > 1 && pin &&
                       pthread_getaffinity_np(pthread_self(), sizeof own, &own) == 0 &&
                       CPU_COUNT(&own) >= team;
    if (pinned)
        pick_cpus(&own, team, cpus);
    omp_set_dynamic(0);
#pragma omp parallel num_threads(team) if (team > 1) shared(cur)
    {
        const int tid = omp_get_thread_num();
        const int last = omp_get_num_threads() - 1;
        if (pinned)
            pin_to(cpus[tid]);
        double *scratch0 = x0 + net.widest, *scratch1 = x1 + net.widest;
        for (int64_t i = 0; i < count; i++) {
            const int y = (int)Y[i];
            const int have = speculate && stored[y] >= 0;
            int64_t t0 = 0, t1 = 0;
            if (tid == 0) {
                t0 = now_ns();
                pixels(X, i, n0, table, x0);
                forward(&net, W, B, x0, act, pre);
                phase_ns[3 * i] = now_ns() - t0;
            }
            if (have && tid == last) {
                t1 = now_ns();
                pixels(X, stored[y], n0, table, x1);
                backward(&net, W, x1, s_act + y * A, s_pre + y * A, y, bw[cur],
                         bb[cur], bw[1 - cur], bb[1 - cur], scratch1);
                phase_ns[3 * i + 1] = now_ns() - t1;
            }
#pragma omp barrier
            if (tid == 0) {
                t1 = now_ns();
                double d = NAN;
                int hit = 0;
                if (have) {
                    d = distance(act + net.boff[J - 1], s_act + y * A + net.boff[J - 1]);
                    hit = d <= threshold;
                }
                if (hit)
                    cur = 1 - cur;
                else
                    backward(&net, W, x0, act, pre, y, bw[cur], bb[cur], bw[cur],
                             bb[cur], scratch0);
                if (i % batch == 0)
                    apply(&net, W, B, bw[cur], bb[cur], lr, limit);
                if (speculate) {
                    memcpy(s_act + y * A, act, sizeof(double) * (size_t)A);
                    memcpy(s_pre + y * A, pre, sizeof(double) * (size_t)A);
                    stored[y] = i;
                }
                outcome[i] = have ? (hit ? OUTCOME_HIT : OUTCOME_MISS) : OUTCOME_SERIAL;
                dist[i] = d;
                phase_ns[3 * i + 2] = now_ns() - t1;
            }
#pragma omp barrier
            if (tid == 0)
                step_ns[i] = now_ns() - t0;
        }
    }
    if (pinned)
        pthread_setaffinity_np(pthread_self(), sizeof own, &own);
    if (cur) {
        memcpy(gw, gw2, sizeof(double) * (size_t)net.woff[J]);
        memcpy(gb, gb2, sizeof(double) * (size_t)net.boff[J]);
    }
    free(work);
    return 0;
}
