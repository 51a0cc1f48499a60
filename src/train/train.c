/* es_train: the training loop. Reads and tokenizes the corpus (learning a
 * BPE vocabulary when none is given), then per step draws a batch, runs the
 * forward and backward (train_model.c), clips the gradient by its global
 * norm and takes an AdamW step under a warm-up + cosine schedule. Writes a
 * CSV row per step (appended and flushed, so a killed run leaves a valid
 * log), a progress line, and checkpoints: a GGUF holding the F32 weights,
 * the vocabulary, entroscope.train.* keys (step, hyperparameters, generator
 * state) and the Adam moments as extra tensors, from which a resumed run
 * continues bit for bit. The model itself is loadable too (`generate`
 * ignores the extra tensors). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/gguf.h"
#include "model/gguf_write.h"
#include "tensor/tensor.h"
#include "tokenizer/tokenizer.h"
#include "train/train.h"
#include "util/error.h"
#include "util/rng.h"

es_train_params es_train_default_params(void) {
    es_train_params p = {0};
    p.vocab_size = 1024;
    p.dim = 256, p.n_layers = 4, p.n_heads = 8, p.n_kv_heads = 4, p.hidden_dim = 768;
    p.seq_len = 256, p.batch_size = 16, p.steps = 3000, p.warmup_steps = 100;
    p.lr = 1e-3f, p.min_lr = 1e-4f, p.weight_decay = 0.1f, p.beta1 = 0.9f, p.beta2 = 0.95f;
    p.grad_clip = 1.0f, p.rope_theta = 10000.0f, p.rms_eps = 1e-5f;
    p.seed = 1, p.n_threads = 0, p.type = "f16", p.checkpoint_every = 500;
    return p;
}

/* Everything one run holds. */
typedef struct trainer {
    const es_train_params *p;
    char ckpt_path[4096];
    es_tokenizer *tok;
    tr_corpus corpus;
    tr_model model;
    tr_state *state;
    float *adam_m, *adam_v;   /* (n_params) moments */
    int32_t *inputs, *targets; /* (B, T) */
    int step;                  /* steps done */
    uint64_t rng;              /* the batch generator */
    double first_loss, last_loss;
    FILE *log;
} trainer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------- parameters -- */

static int check_params(const es_train_params *p, es_error *err) {
    if (!p->data_path || !p->out_path) return es_fail(err, "train: no data or output path");
    if (p->dim <= 0 || p->n_layers <= 0 || p->n_heads <= 0 || p->n_kv_heads <= 0 ||
        p->hidden_dim <= 0 || p->seq_len <= 0 || p->batch_size <= 0 || p->steps <= 0 ||
        p->warmup_steps < 0 || p->checkpoint_every < 0)
        return es_fail(err, "train: every size and step count must be positive");
    if (p->dim % p->n_heads || (p->dim / p->n_heads) % 2)
        return es_fail(err, "train: dim %d must be n_heads (%d) times an even head dim",
                       p->dim, p->n_heads);
    if (p->n_heads % p->n_kv_heads)
        return es_fail(err, "train: %d heads are not a multiple of %d KV heads", p->n_heads,
                       p->n_kv_heads);
    if (!(p->lr > 0) || !(p->min_lr >= 0) || !(p->weight_decay >= 0) || !(p->beta1 >= 0) ||
        !(p->beta1 < 1) || !(p->beta2 >= 0) || !(p->beta2 < 1) || !(p->grad_clip > 0) ||
        !(p->rope_theta > 0) || !(p->rms_eps > 0))
        return es_fail(err, "train: a learning-rate or optimiser setting is out of range");
    if (!p->vocab_path && (p->vocab_size < 259 || p->vocab_size > (1 << 20)))
        return es_fail(err, "train: vocabulary size %d (259 .. 1048576)", p->vocab_size);
    tr_config c = {.dim = p->dim, .hidden = p->hidden_dim};
    return tr_check_type(&c, p->type, err);
}

/* The hyperparameters a checkpoint records and a resume must match. */
typedef struct hparam {
    const char *key;
    int is_float;
    double value;
} hparam;

enum { N_HPARAMS = 18 };

static void hparams(const trainer *t, hparam h[N_HPARAMS]) {
    const es_train_params *p = t->p;
    const hparam all[N_HPARAMS] = {
        {"entroscope.train.vocab_size", 0, t->model.c.vocab},
        {"entroscope.train.dim", 0, p->dim},
        {"entroscope.train.n_layers", 0, p->n_layers},
        {"entroscope.train.n_heads", 0, p->n_heads},
        {"entroscope.train.n_kv_heads", 0, p->n_kv_heads},
        {"entroscope.train.hidden_dim", 0, p->hidden_dim},
        {"entroscope.train.seq_len", 0, p->seq_len},
        {"entroscope.train.batch_size", 0, p->batch_size},
        {"entroscope.train.steps", 0, p->steps},
        {"entroscope.train.warmup_steps", 0, p->warmup_steps},
        {"entroscope.train.lr", 1, p->lr},
        {"entroscope.train.min_lr", 1, p->min_lr},
        {"entroscope.train.weight_decay", 1, p->weight_decay},
        {"entroscope.train.beta1", 1, p->beta1},
        {"entroscope.train.beta2", 1, p->beta2},
        {"entroscope.train.grad_clip", 1, p->grad_clip},
        {"entroscope.train.rope_theta", 1, p->rope_theta},
        {"entroscope.train.rms_eps", 1, p->rms_eps},
    };
    memcpy(h, all, sizeof all);
}

/* --------------------------------------------------------- checkpoints -- */

static int add_u64(gguf_writer *w, const char *key, uint64_t v) {
    return gguf_writer_set_arr(w, key, GGUF_TYPE_UINT64, &v, 1);
}

/* The training state, added to the model's GGUF (tr_model_write_gguf). */
static int checkpoint_extra(gguf_writer *w, void *user, es_error *err) {
    const trainer *t = user;
    hparam h[N_HPARAMS];
    hparams(t, h);
    int rc = gguf_writer_set_u32(w, "entroscope.train.step", (uint32_t)t->step);
    for (int i = 0; i < N_HPARAMS; i++)
        rc |= h[i].is_float ? gguf_writer_set_f32(w, h[i].key, (float)h[i].value)
                            : gguf_writer_set_i32(w, h[i].key, (int32_t)h[i].value);
    rc |= add_u64(w, "entroscope.train.seed", t->p->seed);
    rc |= add_u64(w, "entroscope.train.rng", t->rng);
    rc |= add_u64(w, "entroscope.train.n_tokens", t->corpus.n_tokens);
    rc |= gguf_writer_set_arr(w, "entroscope.train.first_loss", GGUF_TYPE_FLOAT64,
                              &t->first_loss, 1);
    rc |= gguf_writer_set_arr(w, "entroscope.train.last_loss", GGUF_TYPE_FLOAT64,
                              &t->last_loss, 1);
    char name[96];
    for (int i = 0; i < t->model.n_tensors && rc == 0; i++) {
        const tr_tensor *tt = &t->model.tensors[i];
        uint64_t ne[2] = {(uint64_t)tt->cols, (uint64_t)tt->rows};
        size_t n = (size_t)tt->rows * tt->cols;
        snprintf(name, sizeof name, "train.adam_m.%s", tt->name);
        rc |= gguf_writer_add_tensor(w, name, ES_F32, tt->rows == 1 ? 1 : 2, ne,
                                     t->adam_m + tt->offset, n * sizeof(float));
        snprintf(name, sizeof name, "train.adam_v.%s", tt->name);
        rc |= gguf_writer_add_tensor(w, name, ES_F32, tt->rows == 1 ? 1 : 2, ne,
                                     t->adam_v + tt->offset, n * sizeof(float));
    }
    return rc ? es_fail(err, "%s: out of memory", t->ckpt_path) : 0;
}

static int save_checkpoint(trainer *t, es_error *err) {
    return tr_model_write_gguf(&t->model, t->tok, "f32", t->p->seed, t->ckpt_path,
                               checkpoint_extra, t, err);
}

/* A u64 kept as a one-element array. */
static int get_u64(const gguf_file *f, const char *key, uint64_t *out, es_error *err) {
    const gguf_kv *kv;
    int rc = gguf_get_arr(f, key, GGUF_TYPE_UINT64, &kv, err);
    if (rc < 0) return -1;
    if (rc == 1 || kv->v.arr.n != 1) return es_fail(err, "%s: key %s is missing", f->path, key);
    memcpy(out, kv->v.arr.data, sizeof *out);
    return 0;
}

/* Copies F32 tensor `name` of t's shape into dst. */
static int load_tensor(const gguf_file *f, const char *name, const tr_tensor *tt, float *dst,
                       es_error *err) {
    const gguf_tensor_info *ti = gguf_find_tensor(f, name);
    if (!ti) return es_fail(err, "%s: tensor %s is missing", f->path, name);
    if (ti->type != 0 || ti->ne[0] != (uint64_t)tt->cols || ti->n_elements !=
        (uint64_t)tt->rows * (uint64_t)tt->cols)
        return es_fail(err, "%s: tensor %s is not F32 [%d, %d]", f->path, name, tt->cols,
                       tt->rows);
    memcpy(dst, ti->data, sizeof(float) * (size_t)tt->rows * tt->cols);
    return 0;
}

static int check_hparams(const trainer *t, const gguf_file *f, es_error *err) {
    hparam h[N_HPARAMS];
    hparams(t, h);
    for (int i = 0; i < N_HPARAMS; i++) {
        float fv = 0;
        int64_t iv = 0;
        int rc = h[i].is_float ? gguf_get_f32(f, h[i].key, &fv, err)
                               : gguf_get_i64(f, h[i].key, &iv, err);
        if (rc < 0) return -1;
        if (rc == 1) return es_fail(err, "%s: not a training checkpoint (no %s)", f->path, h[i].key);
        const char *what = h[i].key + strlen("entroscope.train.");
        if (h[i].is_float ? fv != (float)h[i].value : iv != (int64_t)h[i].value)
            return h[i].is_float
                ? es_fail(err, "%s: cannot resume: the checkpoint has %s %g, this run %g",
                          f->path, what, fv, h[i].value)
                : es_fail(err, "%s: cannot resume: the checkpoint has %s %lld, this run %lld",
                          f->path, what, (long long)iv, (long long)h[i].value);
    }
    uint64_t seed, n_tokens;
    if (get_u64(f, "entroscope.train.seed", &seed, err) ||
        get_u64(f, "entroscope.train.n_tokens", &n_tokens, err))
        return -1;
    if (seed != t->p->seed)
        return es_fail(err, "%s: cannot resume: the checkpoint has seed %llu, this run %llu",
                       f->path, (unsigned long long)seed, (unsigned long long)t->p->seed);
    if (n_tokens != t->corpus.n_tokens)
        return es_fail(err, "%s: cannot resume: the checkpoint's corpus had %llu tokens, this "
                       "one %zu", f->path, (unsigned long long)n_tokens, t->corpus.n_tokens);
    return 0;
}

/* Restores weights, moments, step, generator and first loss. */
static int load_checkpoint(trainer *t, const gguf_file *f, es_error *err) {
    if (check_hparams(t, f, err)) return -1;
    uint32_t step;
    const gguf_kv *kv;
    if (gguf_get_u32(f, "entroscope.train.step", &step, err)) return es_fail(err, "%s: no step", f->path);
    if (step > (uint32_t)t->p->steps)
        return es_fail(err, "%s: step %u is past the run's %d steps", f->path, step, t->p->steps);
    if (get_u64(f, "entroscope.train.rng", &t->rng, err)) return -1;
    int rc = gguf_get_arr(f, "entroscope.train.first_loss", GGUF_TYPE_FLOAT64, &kv, err);
    if (rc < 0) return -1;
    if (rc == 1 || kv->v.arr.n != 1) return es_fail(err, "%s: no first loss", f->path);
    memcpy(&t->first_loss, kv->v.arr.data, sizeof(double));
    rc = gguf_get_arr(f, "entroscope.train.last_loss", GGUF_TYPE_FLOAT64, &kv, err);
    if (rc < 0) return -1;
    if (rc == 1 || kv->v.arr.n != 1) return es_fail(err, "%s: no last loss", f->path);
    memcpy(&t->last_loss, kv->v.arr.data, sizeof(double));
    char name[96];
    for (int i = 0; i < t->model.n_tensors; i++) {
        const tr_tensor *tt = &t->model.tensors[i];
        if (load_tensor(f, tt->name, tt, t->model.params + tt->offset, err)) return -1;
        snprintf(name, sizeof name, "train.adam_m.%s", tt->name);
        if (load_tensor(f, name, tt, t->adam_m + tt->offset, err)) return -1;
        snprintf(name, sizeof name, "train.adam_v.%s", tt->name);
        if (load_tensor(f, name, tt, t->adam_v + tt->offset, err)) return -1;
    }
    t->step = (int)step;
    return 0;
}

/* ---------------------------------------------------------- optimiser -- */

static float schedule(const es_train_params *p, int step /* 1-based */) {
    if (step <= p->warmup_steps) return p->lr * (float)step / (float)p->warmup_steps;
    const int span = p->steps - p->warmup_steps;
    const double progress = span > 0 ? (double)(step - p->warmup_steps) / span : 1.0;
    return (float)(p->min_lr + 0.5 * (p->lr - p->min_lr) * (1.0 + cos(M_PI * progress)));
}

/* Global L2 norm of the gradient: fixed chunks summed in order. */
static double grad_norm(const float *g, size_t n) {
    enum { CHUNKS = 64 };
    double part[CHUNKS];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo = n * c / CHUNKS, hi = n * (c + 1) / CHUNKS;
        double s = 0;
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * g[i];
        part[c] = s;
    }
    double total = 0;
    for (int c = 0; c < CHUNKS; c++) total += part[c];
    return sqrt(total);
}

static void adamw(trainer *t, float lr, float clip_scale) {
    const es_train_params *p = t->p;
    const tr_model *m = &t->model;
    const float b1 = p->beta1, b2 = p->beta2;
    const float c1 = 1.0f - powf(b1, (float)t->step), c2 = 1.0f - powf(b2, (float)t->step);
    for (int i = 0; i < m->n_tensors; i++) {
        const tr_tensor *tt = &m->tensors[i];
        const float decay = tt->is_norm ? 0.0f : p->weight_decay;
        float *w = m->params + tt->offset, *g = m->grads + tt->offset;
        float *mm = t->adam_m + tt->offset, *vv = t->adam_v + tt->offset;
        const long n = (long)tt->rows * tt->cols;
#pragma omp parallel for schedule(static)
        for (long k = 0; k < n; k++) {
            const float gk = g[k] * clip_scale;
            mm[k] = b1 * mm[k] + (1 - b1) * gk;
            vv[k] = b2 * vv[k] + (1 - b2) * gk * gk;
            const float mh = mm[k] / c1, vh = vv[k] / c2;
            w[k] -= lr * (mh / (sqrtf(vh) + 1e-8f) + decay * w[k]);
        }
    }
}

/* ---------------------------------------------------------------- log -- */

static const char log_header[] = "step,loss,lr,grad_norm,tokens_per_s,elapsed_s\n";

/* On resume, keeps the rows up to the checkpoint's step (a killed run may
 * have logged past it), rewritten whole (tmp + rename). */
static int log_trim(const char *path, int step, es_error *err) {
    FILE *in = fopen(path, "rb");
    if (!in) return 1; /* no log yet: start one */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return es_fail(err, "%s: cannot write", tmp);
    }
    char *line = NULL;
    size_t cap = 0;
    int first = 1;
    while (getline(&line, &cap, in) >= 0) {
        if (first || atol(line) <= step) fputs(line, out);
        first = 0;
    }
    free(line);
    fclose(in);
    int bad = ferror(out);
    if (fclose(out) || bad || rename(tmp, path)) {
        remove(tmp);
        return es_fail(err, "%s: cannot rewrite the log", path);
    }
    return 0;
}

static int log_open(trainer *t, es_error *err) {
    const char *path = t->p->log_path;
    if (!path) return 0;
    int rc = t->p->resume ? log_trim(path, t->step, err) : 1;
    if (rc < 0) return -1;
    t->log = fopen(path, rc == 0 ? "ab" : "wb");
    if (!t->log) return es_fail(err, "%s: cannot write the log", path);
    if (rc == 1) fputs(log_header, t->log);
    fflush(t->log);
    return 0;
}

static void report(trainer *t, double loss, float lr, double norm, double tok_s,
                   double elapsed, int run_steps) {
    const es_train_params *p = t->p;
    if (t->log) {
        fprintf(t->log, "%d,%.6f,%.6g,%.6g,%.1f,%.3f\n", t->step, loss, lr, norm, tok_s, elapsed);
        fflush(t->log);
    }
    if (!p->progress) return;
    int every = p->steps / 20 > 0 ? p->steps / 20 : 1;
    if (!p->progress_tty && t->step % every != 0 && t->step != p->steps) return;
    double eta = run_steps ? elapsed / run_steps * (p->steps - t->step) : 0;
    fprintf(p->progress, "%sstep %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %dm%02ds%s",
            p->progress_tty ? "\r" : "", t->step, p->steps, loss, lr, tok_s, (int)eta / 60,
            (int)eta % 60, p->progress_tty ? "  " : "\n");
    if (p->progress_tty && t->step == p->steps) fputc('\n', p->progress);
    fflush(p->progress);
}

/* --------------------------------------------------------------- setup -- */

static int load_vocabulary(trainer *t, const gguf_file *ckpt, es_error *err) {
    const es_train_params *p = t->p;
    if (ckpt) t->tok = es_tokenizer_from_gguf(ckpt, err);
    else if (p->vocab_path) t->tok = es_tokenizer_load(p->vocab_path, err);
    else
        t->tok = es_tokenizer_learn_bpe((const char *const *)t->corpus.texts, t->corpus.lens,
                                        t->corpus.n_docs, p->vocab_size, err);
    return t->tok ? 0 : -1;
}

static int setup(trainer *t, es_error *err) {
    const es_train_params *p = t->p;
    gguf_file ckpt;
    int have_ckpt = 0, rc = -1;
    if (p->resume) {
        if (gguf_open(&ckpt, t->ckpt_path, err)) return -1;
        have_ckpt = 1;
    }
    if (tr_corpus_read(&t->corpus, p->data_path, err) || load_vocabulary(t, have_ckpt ? &ckpt : NULL, err) ||
        tr_corpus_tokenize(&t->corpus, t->tok, p->data_path, err))
        goto out;
    if (t->corpus.n_tokens < (size_t)p->seq_len + 1) {
        es_fail(err, "%s: the corpus has %zu tokens, fewer than seq_len + 1 = %d (use a shorter "
                "--seq-len)", p->data_path, t->corpus.n_tokens, p->seq_len + 1);
        goto out;
    }
    tr_config c = {es_tokenizer_vocab_size(t->tok), p->dim, p->n_layers, p->n_heads,
                   p->n_kv_heads, p->dim / p->n_heads, p->hidden_dim, p->seq_len,
                   p->rope_theta, p->rms_eps};
    if (tr_model_build(&t->model, &c, err)) goto out;
    tr_model_init(&t->model, p->seed);
    t->state = tr_state_new(&c, p->batch_size, p->seq_len, err);
    if (!t->state) goto out;
    const size_t bt = (size_t)p->batch_size * p->seq_len;
    t->adam_m = calloc(t->model.n_params, sizeof(float));
    t->adam_v = calloc(t->model.n_params, sizeof(float));
    t->inputs = malloc(bt * sizeof(int32_t));
    t->targets = malloc(bt * sizeof(int32_t));
    if (!t->adam_m || !t->adam_v || !t->inputs || !t->targets) {
        es_fail(err, "train: out of memory");
        goto out;
    }
    t->rng = es_splitmix64(p->seed ^ 0x7472616e6e696e67ull);
    if (t->rng == 0) t->rng = 1;
    if (have_ckpt && load_checkpoint(t, &ckpt, err)) goto out;
    rc = log_open(t, err);
out:
    if (have_ckpt) gguf_close(&ckpt);
    return rc;
}

static void teardown(trainer *t) {
    if (t->log) fclose(t->log);
    free(t->adam_m);
    free(t->adam_v);
    free(t->inputs);
    free(t->targets);
    tr_state_free(t->state);
    tr_model_free(&t->model);
    tr_corpus_free(&t->corpus);
    es_tokenizer_free(t->tok);
}

/* ---------------------------------------------------------------- loop -- */

/* One optimiser step; returns its loss, or NaN if the loss diverged. */
static double train_step(trainer *t, float *lr, double *norm) {
    const es_train_params *p = t->p;
    tr_corpus_batch(&t->corpus, p->batch_size, p->seq_len, es_tokenizer_bos(t->tok), &t->rng,
                    t->inputs, t->targets);
    memset(t->model.grads, 0, sizeof(float) * t->model.n_params);
    double loss = tr_forward(&t->model, t->state, t->inputs, t->targets);
    if (!isfinite(loss)) return NAN;
    tr_backward(&t->model, t->state, t->inputs);
    *norm = grad_norm(t->model.grads, t->model.n_params);
    const float clip_scale = *norm > p->grad_clip ? (float)(p->grad_clip / *norm) : 1.0f;
    t->step++;
    *lr = schedule(p, t->step);
    adamw(t, *lr, clip_scale);
    if (t->step == 1) t->first_loss = loss;
    t->last_loss = loss;
    return loss;
}

static int run_loop(trainer *t, es_train_summary *out, es_error *err) {
    const es_train_params *p = t->p;
    const double t0 = now_s();
    const int step0 = t->step;
    const double tokens_per_step = (double)p->batch_size * p->seq_len;
    while (t->step < p->steps) {
        float lr = 0;
        double norm = 0;
        double loss = train_step(t, &lr, &norm);
        if (isnan(loss))
            return es_fail(err, "train: the loss diverged at step %d (try a lower --lr)",
                           t->step + 1);
        double elapsed = now_s() - t0;
        report(t, loss, lr, norm, (t->step - step0) * tokens_per_step / elapsed, elapsed,
               t->step - step0);
        if (t->step < p->steps && p->should_stop && p->should_stop(p->user)) {
            out->interrupted = 1;
            break;
        }
        if (p->checkpoint_every && t->step % p->checkpoint_every == 0 && t->step < p->steps &&
            save_checkpoint(t, err))
            return -1;
    }
    out->seconds = now_s() - t0;
    out->tokens_per_s = out->seconds > 0 ? (t->step - step0) * tokens_per_step / out->seconds : 0;
    return 0;
}

int es_train(const es_train_params *p, es_train_summary *out, es_error *err) {
    es_train_summary dummy;
    if (!out) out = &dummy;
    memset(out, 0, sizeof *out);
    if (check_params(p, err)) return -1;
    const int n_threads = p->n_threads > 0 ? p->n_threads : es_default_threads();
    openblas_set_num_threads(n_threads);
    omp_set_num_threads(n_threads);
    trainer t = {.p = p};
    int n = snprintf(t.ckpt_path, sizeof t.ckpt_path, "%s%s",
                     p->checkpoint_path ? p->checkpoint_path : p->out_path,
                     p->checkpoint_path ? "" : ".ckpt");
    if (n < 0 || (size_t)n >= sizeof t.ckpt_path) return es_fail(err, "train: path too long");
    int rc = setup(&t, err);
    if (rc == 0) rc = run_loop(&t, out, err);
    if (rc == 0) rc = save_checkpoint(&t, err);
    if (rc == 0 && !out->interrupted)
        rc = tr_model_write_gguf(&t.model, t.tok, p->type, p->seed, p->out_path, NULL, NULL, err);
    out->steps_done = t.step;
    out->first_loss = t.first_loss;
    out->last_loss = t.last_loss;
    out->n_params = t.model.n_params;
    teardown(&t);
    return rc;
}
