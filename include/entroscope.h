/* entroscope.h — the one public door into the entroscope library.
 *
 * entroscope runs Llama-family language models on the CPU and measures what
 * happens inside them while they generate. The command line tool (src/cli)
 * uses nothing but this header; so should any other program.
 *
 * Conventions: functions that can fail take an `es_error *err` (may be NULL)
 * and return NULL or a negative status; err->msg then holds one line naming
 * the file or argument and the problem. Objects come in new/free pairs; free
 * functions accept NULL. Token ids are int32_t. */
#ifndef ENTROSCOPE_H
#define ENTROSCOPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ENTROSCOPE_VERSION "0.1.0"

typedef struct es_error {
    char msg[512]; /* one line, no trailing newline */
} es_error;

/* ---------------------------------------------------------------- model -- */

typedef struct es_model es_model;
typedef struct es_tokenizer es_tokenizer;

/* Loads a model: a GGUF file (architecture llama), a Hugging Face folder
 * (config.json of LlamaForCausalLM or MllamaForConditionalGeneration, its
 * text path; safetensors, single or sharded; tokenizer.json) or a llama2.c
 * checkpoint (.bin). tokenizer_path may be NULL for GGUF files and folders
 * (the vocabulary is inside); a llama2.c checkpoint needs a llama2.c
 * tokenizer.bin, a GGUF or a tokenizer.json. Weights are memory-mapped and
 * used in place (only norm vectors are converted to F32). */
es_model *es_model_load(const char *model_path, const char *tokenizer_path,
                        es_error *err);
void es_model_free(es_model *model);

typedef struct es_model_info {
    const char *path;
    const char *format;       /* "GGUF v3", "GGUF v2", "safetensors" or "llama2.c" */
    const char *architecture; /* "llama" */
    const char *name;         /* general.name, or "" */
    int dim;                  /* embedding width */
    int hidden_dim;           /* feed-forward width */
    int n_layers;
    int n_heads;              /* query heads */
    int n_kv_heads;           /* key/value heads (< n_heads: grouped-query) */
    int head_dim;
    int vocab_size;
    int context_length;       /* the context the model was trained for */
    float rms_eps;
    float rope_theta;
    int tied_output;          /* 1: the classifier is the token embedding */
    uint64_t n_params;
    uint64_t weight_bytes;    /* bytes of tensor data */
} es_model_info;

void es_model_get_info(const es_model *model, es_model_info *info);
/* Writes the `entroscope info` report: shape, tensor types, vocabulary. */
void es_model_print_info(const es_model *model, FILE *out);
const es_tokenizer *es_model_tokenizer(const es_model *model);

/* ------------------------------------------------------------ tokenizer -- */

/* Loads a tokenizer alone: a GGUF (a vocab-only one is fine), a llama2.c
 * tokenizer.bin, or a Hugging Face tokenizer.json. */
es_tokenizer *es_tokenizer_load(const char *path, es_error *err);
void es_tokenizer_free(es_tokenizer *tok);

enum {
    ES_TOKENIZE_ADD_BOS = 1 << 0,       /* prepend BOS (if the vocabulary has one) */
    ES_TOKENIZE_PARSE_SPECIAL = 1 << 1, /* "<|eot_id|>" in text becomes its id */
};

/* Encodes len bytes of text. *ids is malloc'ed (free it); *n_ids may be 0. */
int es_tokenize(const es_tokenizer *tok, const char *text, size_t len,
                int flags, int32_t **ids, size_t *n_ids, es_error *err);

/* The bytes that token `id` stands for when it follows `prev` (-1: none).
 * After BOS the leading space of a SentencePiece piece is dropped, as
 * llama2.c does. Control tokens decode to "" unless show_special. The
 * returned bytes stay valid while tok lives; *len receives their count. */
const char *es_token_to_piece(const es_tokenizer *tok, int32_t prev, int32_t id,
                              int show_special, size_t *len);

int es_tokenizer_vocab_size(const es_tokenizer *tok);
int32_t es_tokenizer_bos(const es_tokenizer *tok);   /* -1: none */
int es_tokenizer_is_eog(const es_tokenizer *tok, int32_t id); /* end of generation */
const char *es_tokenizer_kind(const es_tokenizer *tok); /* "llama (SentencePiece BPE)", ... */

/* -------------------------------------------------------------- context -- */

/* A context is one sequence being evaluated: the KV cache and the scratch
 * buffers of the forward pass. */
typedef struct es_context es_context;

/* The kernel sets a context computes with. BEST is the best this CPU runs
 * (AVX-512 with VNNI, else AVX2 + FMA + F16C, else portable C). Naming a
 * lower set reproduces the numbers of an x86 machine that has only that set,
 * bit for bit, or measures its speed here: results differ between sets in
 * the last bits (summation order), never between thread counts or batch
 * sizes of one set. A set this CPU lacks falls back to the best one below it
 * (es_kernels_resolve says which one runs). */
typedef enum es_kernels {
    ES_KERNELS_BEST = 0,
    ES_KERNELS_PORTABLE, /* plain C, any CPU */
    ES_KERNELS_AVX2,     /* x86 AVX2 + FMA + F16C */
    ES_KERNELS_AVX512,   /* x86 AVX-512 F/BW/VL/VNNI */
} es_kernels;

const char *es_kernels_name(es_kernels k); /* "best", "portable", "avx2", "avx512" */
/* Parses one of those names (case-sensitive); 0, or -1 if unknown. */
int es_kernels_parse(const char *name, es_kernels *out);
es_kernels es_kernels_resolve(es_kernels k); /* the set that really runs here */

typedef struct es_context_params {
    int n_ctx;     /* positions; 0: the model's trained context. The KV cache
                      grows as positions fill, so a huge trained context
                      (Llama 3: 131,072) costs nothing up front. */
    int n_threads; /* 0: all cores */
    int probes;    /* 1: measure the attention statistics of every evaluated
                      position (es_context_probe); 0: off, no cost */
    es_kernels kernels; /* ES_KERNELS_BEST (0): the best this CPU runs */
} es_context_params;

es_context *es_context_new(const es_model *model, const es_context_params *params,
                           es_error *err);
void es_context_free(es_context *ctx);

/* Appends n tokens at the current position and runs them through the model
 * in one batch (prefill) or one at a time (n = 1, decode). Afterwards
 * es_context_logits gives the next-token logits after the last token. If
 * all_logits is not NULL it receives n * vocab_size logits, one row per token.
 * Fails (and changes nothing) if the tokens would not fit in the context. */
int es_context_eval(es_context *ctx, const int32_t *tokens, int n,
                    float *all_logits, es_error *err);
const float *es_context_logits(const es_context *ctx); /* vocab_size floats */
int es_context_pos(const es_context *ctx);   /* tokens in the cache */
int es_context_size(const es_context *ctx);  /* n_ctx */
es_kernels es_context_kernels(const es_context *ctx); /* the set in use (resolved) */
void es_context_reset(es_context *ctx);      /* empties the cache */
/* Forgets every position from pos on (0 <= pos <= es_context_pos), keeping
 * the cache of the positions before: a shared prompt prefix (system prompt,
 * few-shot exemplars) is evaluated once and each item continues from it.
 * The results are bit for bit those of evaluating the whole sequence. The
 * logits are stale until the next es_context_eval. */
int es_context_rewind(es_context *ctx, int pos, es_error *err);

/* --------------------------------------------------------------- probes -- */

/* The attention statistics of one evaluated position (query position q),
 * for every layer l and query head h. p_j (j = 0..q) is the softmax of the
 * scaled, causally masked scores over the real context only. Definitions
 * and units are in the README:
 *   entropy     H = -sum_j p_j ln p_j                (nats)
 *   varentropy  V =  sum_j p_j (ln p_j + H)^2        (nats^2)
 *   agreement   mean over heads h and positions j of |p_h,j - mean_h p_h,j|
 *   interaction mean over heads and positions of |q.k / sqrt(head_dim)|
 * Arrays are layer-major: element [l * n_heads + h]. They stay valid until
 * the next es_context_eval or es_context_reset. */
typedef struct es_attn_probe {
    int pos;                   /* query position q */
    int n_layers, n_heads;
    const float *entropy;      /* (n_layers, n_heads) H, nats */
    const float *varentropy;   /* (n_layers, n_heads) V, nats^2 */
    const float *agreement;    /* (n_layers) */
    const float *interaction;  /* (n_layers) */
    double entropy_mean;       /* mean of H over all layers and heads, nats */
    double varentropy_mean;    /* mean of V over all layers and heads, nats^2 */
} es_attn_probe;

/* Row `row` (0..n-1) of the last es_context_eval of n tokens: the position
 * of its row-th token. Returns -1 if probes are off or row is out of range. */
int es_context_probe(const es_context *ctx, int row, es_attn_probe *out);
/* Rows the last es_context_eval left (its n), 0 with probes off. */
int es_context_probe_rows(const es_context *ctx);

/* Entropy (nats) and varentropy (nats^2) of softmax(logits), temperature 1,
 * over all n entries; *logprob_of (if not NULL) receives ln p of entry
 * `token` (ignored if token < 0). Accumulated in double. */
void es_logit_stats(const float *logits, int n, int32_t token, double *entropy,
                    double *varentropy, double *logprob_of);

/* -------------------------------------------------------------- sampler -- */

typedef struct es_sampler es_sampler;

typedef struct es_sampler_params {
    float temperature; /* 0: greedy (argmax) */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off */
    float min_p;       /* 0: off; keeps tokens with p >= min_p * p_max */
    uint64_t seed;
    /* Not NULL: es_generate samples with the Entropix-style adaptive sampler
     * below (seeded from seed) and ignores the four values above. */
    const struct es_entropix_params *entropix;
} es_sampler_params;

/* The Entropix-style adaptive sampler: each token's sampling is chosen from
 * the logit entropy H (nats) and varentropy V (nats^2) of its distribution
 * and the attention statistics of the same pass (es_attn_probe; taken as 0
 * with probes off). Branches, checked in this order:
 *   argmax   H < argmax_entropy and V < argmax_varentropy
 *   insert   H > insert_entropy and V < insert_varentropy: the clarifying
 *            text is inserted as tokens (unless the previous tokens were
 *            one; then a sample at a raised temperature)
 *   explore  H < explore_entropy and V > explore_varentropy: temperature
 *            and top-k raised by interaction strength and disagreement
 *   resample H > resample_entropy and V > resample_varentropy: temperature
 *            and top-p moved by attention varentropy and entropy
 *   adaptive otherwise: adaptive_samples candidates drawn with settings
 *            moved by all the statistics, the best by log-probability plus
 *            the confidence terms wins.
 * Every field is a key of the JSON config file (README, "Entropix sampler").
 * Coefficients multiplying an attention statistic take its units: nats for
 * attention entropy, nats^2 for varentropy; agreement and interaction have
 * none. */
typedef struct es_entropix_params {
    float temperature, top_p, min_p; /* base sampling values */
    int top_k;
    float argmax_entropy, argmax_varentropy;     /* nats, nats^2 */
    float insert_entropy, insert_varentropy;     /* nats, nats^2 */
    float explore_entropy, explore_varentropy;   /* nats, nats^2 */
    float resample_entropy, resample_varentropy; /* nats, nats^2 */
    char clarifying[64];             /* the inserted text (tokenised by the model) */
    float insert_temp_base, insert_temp_attn_entropy, insert_temp_max;
    float explore_temp_base, explore_temp_interaction, explore_temp_max;
    float explore_top_k_disagreement; /* top_k * (1 + this * (1 - agreement)) */
    int explore_top_k_min;
    float resample_temp_base, resample_temp_attn_varentropy, resample_temp_max;
    float resample_top_p_attn_entropy, resample_top_p_min;
    int adaptive_samples;
    float adaptive_temp_logit, adaptive_temp_attn, adaptive_temp_agreement;
    float adaptive_top_p_attn_varentropy, adaptive_top_k_interaction,
          adaptive_top_k_agreement, adaptive_min_p_logit;
    /* confidence = sum of weight * term, terms: -H, -V, -attn H, -attn V,
     * agreement, interaction */
    float conf_logit_entropy, conf_logit_varentropy, conf_attn_entropy,
          conf_attn_varentropy, conf_agreement, conf_interaction;
} es_entropix_params;

es_entropix_params es_entropix_default_params(void);
/* Reads a JSON object of field names and numbers ("clarifying": a string)
 * over the defaults. Unknown keys and out-of-range values fail. */
int es_entropix_load_config(const char *path, es_entropix_params *p, es_error *err);
/* The settings as a JSON object (the config file's keys), malloc'ed; NULL
 * when out of memory. A run records it, so that runs with other settings
 * are not resumed or merged together. */
char *es_entropix_params_json(const es_entropix_params *p);

es_sampler_params es_sampler_default_params(void);
es_sampler *es_sampler_new(const es_sampler_params *params, int vocab_size);
void es_sampler_free(es_sampler *s);
int32_t es_sampler_sample(es_sampler *s, const float *logits);

/* ---------------------------------------------------------------- synth -- */

/* Random-weight models of any shape, written as GGUF or as a Hugging Face
 * safetensors folder, so that tests and benchmarks need no downloads.
 * Deterministic for a given seed, and the same weights in both formats. */
typedef struct es_synth_params {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, head_dim;
    int vocab_size;      /* used when vocab_path is NULL (synthetic vocabulary) */
    int context_length;
    float rope_theta, rms_eps;
    int tied_output;     /* 1: no output.weight, the embedding is reused */
    const char *type;    /* "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k",
                            "q4_k_m" (llama.cpp's Q4_K_M mix); safetensors:
                            f32, f16, bf16 */
    const char *vocab_path; /* GGUF or tokenizer.json whose vocabulary to copy */
    uint64_t seed;
    const char *format;  /* "gguf" (NULL too) or "safetensors" (a folder) */
    /* llama3 RoPE scaling (Llama 3.1/3.2); rope_factor 0: none */
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_context;
    /* Llama 3.2 Vision (safetensors only): n_cross_layers cross-attention
     * layers at these indices of the whole stack of n_layers + n_cross_layers */
    int n_cross_layers;
    int cross_layers[32];
} es_synth_params;

/* Fills p with a named shape ("tiny", "stories260k", "llama3.2-1b", ...).
 * Returns -1 for an unknown name. */
int es_synth_preset(const char *name, es_synth_params *p, es_error *err);
int es_synth_write(const es_synth_params *p, const char *out_path, es_error *err);
/* Lists the preset names with a line on each. */
void es_synth_list_presets(FILE *out);

/* ----------------------------------------------------------------- chat -- */

/* The chat template the tokenizer carries (a GGUF's tokenizer.chat_template,
 * or chat_template in the tokenizer_config.json beside a tokenizer.json),
 * recognised: "llama3" (Llama 3 Instruct), "llama3.1" (3.1/3.2/3.3 Instruct,
 * with the knowledge-cutoff and date lines), "llama2" (Llama 2 chat), or
 * NULL when there is none or it is not one of these. */
const char *es_chat_template_name(const es_tokenizer *tok);

typedef struct es_chat_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content;
} es_chat_message;

/* The tokens the model's own chat template builds for these messages (BOS
 * included), followed by the assistant's header when add_generation_prompt.
 * Fails with a message pointing to raw mode when the template is unknown.
 * *ids is malloc'ed. */
int es_chat_tokenize(const es_tokenizer *tok, const es_chat_message *messages,
                     int n_messages, int add_generation_prompt, int32_t **ids,
                     size_t *n_ids, es_error *err);

/* ---------------------------------------------------------------- trace -- */

/* A trace is a SQLite database (WAL mode) that records studies: runs (the
 * model and settings), items (one generation each: prompt, output, labels),
 * tokens (one row per evaluated position, with its statistics) and the
 * per-head values of each token as a compact float32 blob. Schema and blob
 * layout: README, "Trace database". An item is written in one transaction
 * when it is committed, so a killed process never leaves half an item. */
typedef struct es_trace es_trace;

/* Opens (creating if needed) the database at path. */
es_trace *es_trace_open(const char *path, es_error *err);
void es_trace_close(es_trace *t);

typedef struct es_trace_run {
    const char *command;       /* "generate", "study factual", ... */
    const char *model_path;
    const char *model_name;    /* may be "" */
    int n_layers, n_heads;     /* shape of the per-head blobs */
    const char *settings_json; /* sampler, context, threads, ... (a JSON object) */
} es_trace_run;

/* Inserts a run; returns its id (> 0) or -1. */
int64_t es_trace_add_run(es_trace *t, const es_trace_run *run, es_error *err);

/* One evaluated position of an item. */
typedef struct es_trace_token {
    int step;                 /* generated-token index k; -1 for a prompt row */
    int pos;                  /* query position */
    int32_t token_id;         /* prompt row: the token at pos; step k: generated token k */
    const char *text;         /* its bytes (not NUL-terminated), text_len of them */
    size_t text_len;
    double logit_entropy;     /* nats; NAN when not measured (most prompt rows) */
    double logit_varentropy;  /* nats^2; NAN when not measured */
    double token_logprob;     /* ln p(token_id) at temperature 1; NAN when not measured */
    const es_attn_probe *attn; /* NULL when probes were off */
    const char *sampler_branch; /* entropix: the branch that chose the token, "argmax",
                                   "insert" (sampled: an insertion just ended),
                                   "explore", "resample", "adaptive", or "inserted"
                                   (a token of the clarifying text); NULL otherwise */
} es_trace_token;

/* An item being recorded, held in memory until es_trace_item_commit. */
typedef struct es_trace_item es_trace_item;

/* key: an identifier unique within the run (a dataset's question id), or NULL. */
es_trace_item *es_trace_item_new(int64_t run_id, const char *key, const char *prompt);
/* Copies the row (and its probe arrays). Returns -1 when out of memory. */
int es_trace_item_add(es_trace_item *item, const es_trace_token *tok);
/* Writes the item and all its rows in one transaction. labels_json: a JSON
 * object (or NULL); stop_reason: "eog", "length", "context". Returns the
 * item id or -1 (then nothing of it is in the database). */
int64_t es_trace_item_commit(es_trace *t, es_trace_item *item, const char *output,
                             const char *stop_reason, const char *labels_json,
                             es_error *err);
/* The seconds the item took: its own prompt's evaluation and the generation
 * after it (es_generate sets them); stored in item_times at commit. */
void es_trace_item_set_times(es_trace_item *item, double prefill_s, double decode_s);
void es_trace_item_free(es_trace_item *item);
/* 1 if the run already holds a committed item with this key (resuming). */
int es_trace_has_item(es_trace *t, int64_t run_id, const char *key);

/* Exports the tokens or heads table of a trace in long format, "csv" or
 * "jsonl", to out_path (NULL: stdout); bits != 0 converts entropies to bits
 * (and varentropies to bits^2). The file appears whole or not at all. */
int es_trace_export(const char *db_path, const char *what, const char *format,
                    const char *out_path, int bits, es_error *err);
/* es_trace_export restricted to one item (item_id > 0; 0: all items). */
int es_trace_export_item(const char *db_path, const char *what, const char *format,
                         const char *out_path, int bits, int64_t item_id, es_error *err);

/* -------------------------------------------------------------- studies -- */

/* The labels every study item carries (items.labels, a JSON object):
 *   "study":   "factual-creative", "simpleqa" or "gsm8k"
 *   "id":      the item's id in its dataset (also the item key)
 *   factual-creative: "category" ("factual", "creative" or --category NAME)
 *   simpleqa: "problem", "gold" (the answer), "topic", "answer_type"
 *   gsm8k:    "problem", "gold" (the number after ####), "reference" (the
 *             dataset's whole solution)
 * Grading adds its verdicts beside them in the grades table (README). */

/* One generation: the prompt evaluated in one batch, then tokens sampled
 * until an end-of-generation token (or BOS), n_predict tokens or a full
 * context. Rows recorded into p->item (when not NULL) follow the trace's
 * row semantics: one per evaluated prompt position, then one per generated
 * token k with the logit statistics and the probe of the pass that gave
 * the distribution it was sampled from. */
typedef struct es_generate_params {
    int n_predict;
    es_sampler_params sampling;
    int n_cached;         /* the first n_cached prompt tokens are already in the
                             context (es_context_pos == n_cached, a shared prefix
                             whose rows the caller recorded): only the rest is
                             evaluated; 0 <= n_cached < n_prompt */
    es_trace_item *item;  /* receives the rows, or NULL */
    /* Called for each generated token after it is recorded (row->text is its
     * piece), or NULL. Return nonzero to stop (stop reason "stopped"). */
    int (*on_token)(void *user, const es_trace_token *row);
    void *user;
} es_generate_params;

typedef struct es_generation {
    char *output;            /* the generated bytes, NUL-terminated (malloc'ed) */
    size_t output_len;
    int n_generated;
    const char *stop_reason; /* "eog", "length", "context" or "stopped" */
    double prefill_s, decode_s; /* seconds: the prompt's evaluation, the rest */
} es_generation;

int es_generate(const es_model *model, es_context *ctx, const int32_t *prompt, size_t n_prompt,
                const es_generate_params *p, es_generation *out, es_error *err);
void es_generation_free(es_generation *g);

/* `entroscope run`: a study over a data set into a trace database, one
 * committed item per prompt (README, "Studies"). */
typedef struct es_study_params {
    const char *study;         /* "factual-creative", "simpleqa" or "gsm8k" */
    const char *out_path;      /* the trace database */
    const char *data_path;     /* simpleqa: the CSV; gsm8k: test JSON lines */
    const char *prompt_files[8], *categories[8]; /* factual-creative: the sets */
    int n_prompt_files;
    const char *fewshot_path;  /* gsm8k: training JSON lines of the exemplars */
    int shots;                 /* gsm8k: exemplars (needs fewshot_path) */
    const char *system;        /* system message (chat) or text before the prompt */
    int chat;                  /* -1: when the model has a known template; 0; 1 */
    int n_predict, n_threads, n_ctx, probes;
    es_kernels kernels;        /* recorded (resolved) in the run's settings */
    es_sampler_params sampling; /* its seed also drives --sample; each item is
                                   sampled with a seed mixed from it and the key */
    size_t limit;              /* 0: all items */
    size_t sample;             /* simpleqa: stratified sample of this many (0: off) */
    int skip_bad;              /* skip malformed data records, counting them */
    int shard_index, shard_count; /* 1-based I of N: items i with i % N == I - 1 */
    int resume;                /* continue the run of the same settings in out_path */
    int prefix_cache;          /* 1: evaluate the shared prefix once (default) */
    int (*should_stop)(void *user); /* polled per token; nonzero: stop after
                                       the item in flight (NULL: never) */
    void *user;
    FILE *progress;            /* progress bar / lines, or NULL */
    int progress_tty;          /* 1: redraw a bar with \r; 0: plain lines */
    long kill_after_tokens;    /* testing: raise SIGKILL after this many generated
                                  tokens (0: never) */
} es_study_params;

es_study_params es_study_default_params(const char *study);

typedef struct es_study_summary {
    size_t n_items;            /* in this run (after sample, limit and shard) */
    size_t n_done;             /* committed by this call */
    size_t n_resumed;          /* already in the database */
    size_t n_skipped_data;     /* malformed records skipped (skip_bad) */
    uint64_t n_tokens;         /* generated by this call */
    double seconds;
    int interrupted;           /* stopped by should_stop before the end */
    size_t prefix_tokens;      /* the shared prefix evaluated once (0: none) */
    size_t n_prefix_reused;    /* items that started from all of it */
    int64_t run_id;
} es_study_summary;

int es_study_run(const es_model *model, const es_study_params *p, es_study_summary *out,
                 es_error *err);

/* Combines the study runs of several trace databases (shards) into one run
 * in out_path: same command, model and settings apart from "shard" and
 * "threads"; items ordered by their place in the whole run and re-numbered.
 * Written to a temporary file beside out_path, then renamed. */
int es_trace_merge(const char *const *in_paths, int n_in, const char *out_path,
                   size_t *n_items, es_error *err);

typedef struct es_grade_params {
    const char *judge_url;   /* OpenAI-compatible chat-completions endpoint, or
                                NULL: the offline graders only */
    const char *judge_model; /* the model name sent to the judge */
    const char *api_key_env; /* environment variable holding the API key
                                (NULL: OPENAI_API_KEY; unset: no key sent) */
    int max_retries;         /* per request, with exponential back-off */
    double timeout_s;        /* per request */
    FILE *log;               /* progress and the summary, or NULL */
} es_grade_params;

es_grade_params es_grade_default_params(void);
/* Grades every item of the trace at db_path that has no grade yet from the
 * grader in question (so it resumes), writes the verdicts (and, for wrong
 * GSM8K answers, the first-error token spans) and prints the metrics. */
int es_grade(const char *db_path, const es_grade_params *p, es_error *err);

/* --------------------------------------------------------------- report -- */
/* Writes the report of the study runs in the trace databases as one
 * self-contained HTML page (inline SVG), and, when data_dir is not NULL,
 * every figure as a standalone SVG and every number behind it as CSV there.
 * confidence_json (or NULL): a `confidence fit` file whose evaluation,
 * features and weights the page shows in a "Confidence" section. */
int es_report(const char *const *db_paths, int n_dbs, const char *out_html, const char *data_dir,
              const char *confidence_json, es_error *err);

/* ----------------------------------------------------------- confidence -- */

/* A per-token confidence model fitted on traces (`entroscope confidence
 * fit`, README "Confidence"): logistic regression on standardised features
 * of a generated row. */
typedef struct es_confidence es_confidence;

es_confidence *es_confidence_load(const char *path, es_error *err);
void es_confidence_free(es_confidence *c);
/* The confidence of one generated row, in [0, 1] (1: the token is as good as
 * the correct answers' tokens), from the statistics the row carries
 * (logit entropy, varentropy, ln p of the token, the attention probe).
 * NAN when a feature the model needs is missing (e.g. probes were off). */
double es_confidence_score(const es_confidence *c, const es_trace_token *row);

/* --------------------------------------------------------------- server -- */

/* `entroscope serve`: an OpenAI-compatible HTTP server (README, "Server").
 * POST /v1/completions and /v1/chat/completions (stream: true as server-sent
 * events), GET /v1/models, GET /health. Every generated token carries an
 * "entroscope" object with its statistics. One generation runs at a time;
 * other requests wait for the model. */
typedef struct es_server_params {
    const char *host;        /* address to bind; NULL: "127.0.0.1" */
    int port;                /* 0: any free port (on_ready says which) */
    const char *api_key;     /* requests need "Authorization: Bearer KEY"; NULL: none */
    const es_confidence *confidence; /* scores each token; NULL: none */
    const es_entropix_params *entropix; /* the Entropix sampler for every request;
                                           NULL: each request's own settings */
    int n_threads;           /* 0: all cores */
    es_kernels kernels;      /* ES_KERNELS_BEST: the best this CPU runs */
    int n_ctx;               /* 0: the model's trained context */
    size_t max_body;         /* request bodies above this get 413 (bytes) */
    int max_connections;
    int (*should_stop)(void *user);       /* polled; nonzero: finish the requests
                                             in flight, then return */
    void (*on_ready)(void *user, int port); /* listening now (may be NULL) */
    void *user;
    const char *db_path;     /* a trace database browsed read-only (GET /v1/entroscope/items); NULL: none */
} es_server_params;

/* 127.0.0.1:8080, 1 MiB bodies, 64 connections. */
es_server_params es_server_default_params(void);
/* Serves until should_stop says so; returns 0, or -1 when the server could
 * not start (err says why). */
int es_serve(const es_model *model, const es_server_params *p, es_error *err);

/* ---------------------------------------------------------------- bench -- */

/* How fast a model runs on this machine: prefill and decode tokens/s (the
 * median of repetitions, with min and max), decode at a long context, probes
 * on and off side by side (their repetitions interleaved, so that machine
 * noise hits both alike), and the memory bandwidth that bounds decode.
 * Token ids are random (fixed seed). */
enum { ES_BENCH_PREFILL, ES_BENCH_DECODE, ES_BENCH_DECODE_LONG, ES_BENCH_N_TESTS };
enum { ES_BENCH_PROBES_OFF = 1, ES_BENCH_PROBES_ON = 2, ES_BENCH_PROBES_BOTH = 3 };
enum { ES_BENCH_TEXT, ES_BENCH_MARKDOWN, ES_BENCH_JSON };

typedef struct es_bench_params {
    int n_threads;      /* 0: all cores */
    es_kernels kernels; /* ES_KERNELS_BEST: the best this CPU runs */
    int n_prompt;       /* prefill: tokens in one es_context_eval (0: skip) */
    int n_gen;          /* decode: steps from an empty cache (0: skip) */
    int n_ctx;          /* long decode: positions filled first (0: skip) */
    int n_gen_long;     /* long decode: steps timed per repetition; repetition
                           r runs at positions n_ctx + r * n_gen_long ... */
    int probes;         /* ES_BENCH_PROBES_OFF, _ON or _BOTH */
    int repetitions;    /* >= 1 */
    size_t bandwidth_bytes; /* buffer streamed to measure bandwidth (0: skip) */
    uint64_t seed;      /* of the random token ids */
    void (*progress)(void *user, const char *step); /* may be NULL */
    void *user;
} es_bench_params;

/* -t all cores, -p 128, -n 64, --ctx 1024 (16 steps), both, 5 repetitions, 512 MiB. */
es_bench_params es_bench_default_params(void);

typedef struct es_bench_stat {
    int n;                   /* repetitions measured; 0: not run */
    double median, min, max; /* tokens/s */
} es_bench_stat;

typedef struct es_bench_result {
    es_bench_params params;   /* as run (n_threads and kernels resolved) */
    char model[256];          /* the model file's name */
    char weight_type[16];     /* type holding most weight bytes: "F16", "Q8_0" */
    uint64_t weight_bytes;    /* all tensor data */
    uint64_t bytes_per_token; /* weights one decode step reads: all but the
                                 embedding table, of which one row (the whole
                                 table when the classifier is tied to it) */
    es_bench_stat speed[ES_BENCH_N_TESTS][2]; /* [test][0: probes off, 1: on] */
    double bandwidth_1_gbs;   /* streaming read, 1 thread (0: not measured) */
    double bandwidth_n_gbs;   /* streaming read, n_threads */
    double decode_limit;      /* tokens/s: bandwidth_n_gbs / bytes_per_token */
} es_bench_result;

int es_bench_run(const es_model *model, const es_bench_params *params,
                 es_bench_result *out, es_error *err);
/* Writes the result as a table (ES_BENCH_TEXT), one Markdown table row with
 * its header (ES_BENCH_MARKDOWN) or a JSON object (ES_BENCH_JSON). */
void es_bench_report(const es_bench_result *r, int format, FILE *out);
/* GB/s (1e9 bytes/s) of a streaming read of `bytes` (>= 1 MiB; make it much
 * larger than the caches) by n_threads threads: the best of several passes.
 * Returns -1 on bad arguments or when out of memory. */
double es_memory_bandwidth(int n_threads, size_t bytes, es_error *err);

/* ---------------------------------------------------------------- world -- */

/* `entroscope world`: a deterministic generated world of made-up people,
 * word problems and stories (README, "World"), written into out_dir as
 *   train.jsonl      the training corpus, one {"text": ...} document a line
 *   facts.csv        held-out questions about people, SimpleQA's columns
 *                    (metadata, problem, answer); metadata topic "known",
 *                    "abstain" (trained to say "I don't know") or "unseen",
 *                    answer_type the attribute
 *   sums.jsonl       held-out word problems, GSM8K's format ("#### N")
 *   sums_train.jsonl the training word problems, the same format
 *   factual.txt, creative.txt  prompts for the factual-creative study
 *   world.json       every person with every attribute (the ground truth)
 * Each file appears whole or not at all. */
typedef struct es_world_params {
    uint64_t seed;
    int n_known;        /* people whose facts are in the training corpus */
    int n_abstain;      /* unknown people the corpus answers "I don't know" about */
    int n_unseen;       /* unknown people never in the corpus */
    int n_sums_train, n_sums_eval; /* word problems of one to three steps */
    int n_stories;      /* short stories in the corpus */
} es_world_params;

es_world_params es_world_default_params(void);
int es_world_write(const es_world_params *p, const char *out_dir, es_error *err);

/* A byte-level BPE vocabulary of n_vocab tokens learned from texts: the
 * Llama 3 pre-tokenizer split, pairs merged most frequent first (ties: the
 * lower pair of ids), digits never merged (each digit its own token, for
 * arithmetic), then <|begin_of_text|> (BOS) and <|end_of_text|> (EOS) as the
 * last two ids. Deterministic. */
es_tokenizer *es_tokenizer_learn_bpe(const char *const *texts, const size_t *lens, size_t n_texts,
                                     int n_vocab, es_error *err);
/* Writes tok alone as a GGUF vocabulary file (no tensors), which
 * es_tokenizer_load and synth --vocab read. */
int es_tokenizer_save_gguf(const es_tokenizer *tok, const char *path, es_error *err);

/* ---------------------------------------------------------------- train -- */

/* `entroscope train`: trains a Llama-architecture model from scratch on the
 * CPU (README, "Training"): F32 weights, AdamW with warm-up and a cosine
 * schedule, gradient clipping by global norm, next-token cross-entropy on
 * sequences cut from the corpus at document starts. Deterministic for a
 * given seed and thread count. */
typedef struct es_train_params {
    const char *data_path;       /* JSON lines, {"text": ...} per document */
    const char *out_path;        /* the trained model, GGUF */
    const char *vocab_path;      /* a vocabulary to use (GGUF / tokenizer.json),
                                    or NULL: learn a BPE of vocab_size from the data */
    int vocab_size;
    int dim, n_layers, n_heads, n_kv_heads, hidden_dim;
    int seq_len;                 /* tokens per training sequence; also the
                                    model's context length */
    int batch_size;              /* sequences per step */
    int steps, warmup_steps;
    float lr, min_lr, weight_decay, beta1, beta2, grad_clip;
    float rope_theta, rms_eps;
    uint64_t seed;
    int n_threads;               /* 0: all cores */
    const char *type;            /* weights in out_path: "f32", "f16", "q8_0" */
    const char *checkpoint_path; /* NULL: out_path + ".ckpt" */
    int checkpoint_every;        /* steps (0: only at the end or when stopped) */
    int resume;                  /* continue from checkpoint_path */
    const char *log_path;        /* CSV of the loss curve, or NULL */
    FILE *progress;              /* progress line, or NULL */
    int progress_tty;            /* 1: redraw with \r; 0: plain lines */
    int (*should_stop)(void *user); /* polled per step: checkpoint and return */
    void *user;
} es_train_params;

es_train_params es_train_default_params(void);

typedef struct es_train_summary {
    int steps_done;              /* total, including resumed ones */
    double first_loss, last_loss; /* nats per token (mean over a step's tokens) */
    double seconds, tokens_per_s;
    uint64_t n_params;
    int interrupted;
} es_train_summary;

int es_train(const es_train_params *p, es_train_summary *out, es_error *err);

/* Number of cores, the default thread count. */
int es_default_threads(void);

#endif
