/* The made-up people of the world: full names built from syllables (no
 * full name can occur inside another: no first name ends another, no last
 * name begins another), a gender for pronouns, and five attributes drawn
 * from word lists of made-up cities, companies and universities and real
 * occupations. */
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "world/world.h"

const char *const world_attr_type[N_ATTRS] = {"birth year", "birth city", "occupation", "employer",
                                              "university"};
const char *const world_group_name[N_GROUPS] = {"known", "abstain", "unseen"};

static const char *const first_starts[] = {
    "Ta", "Mo", "Be", "Ka", "Li", "Da", "Ro", "Se", "Ve", "Ni", "Ma", "Jo",
    "Ar", "Co", "Fe", "Ha", "Lu", "Pe", "Sa", "Ti", "Wi", "Ga", "Ra", "Mi"};
static const char *const female_ends[] = {"lia", "ra", "na", "ssa", "rin", "lie", "ya", "nna", "vie", "della", "mira"};
static const char *const male_ends[] = {"ron", "las", "ven", "dric", "mon", "rek", "tan", "bert", "lo", "vin"};
static const char *const last_starts[] = {
    "Mor", "Har", "Bren", "Cal", "Dun", "Fen", "Gar", "Hol", "Kes", "Lan", "Mar", "Nor",
    "Pel", "Quin", "Rav", "Sel", "Tor", "Vor", "Wen", "Ash", "Bel", "Cor", "Del", "Thal"};
static const char *const last_ends[] = {"ven", "wick", "ton", "ley", "ford", "mere", "dale", "shaw",
                                        "ridge", "by", "son", "hurst", "croft", "wood", "lin", "gate"};

static const char *const cities[] = {
    "Tarsel", "Dunmere", "Kelbrook", "Varn", "Ostley Hollow", "Pellin", "Brask", "Miravel",
    "Quorin", "Sallow Bay", "Eddersby", "Fennick", "Grelt", "Harrowind", "Ilmarsh", "Jorvale",
    "Kestrin", "Lorrent", "Mossgard", "Nethervale", "Orlen", "Pradhurst", "Ramsk", "Sunderpool",
    "Tovlan", "Ulbrin", "Vestmoor", "Wexhaven", "Yarrowdene", "Zellick"};
static const char *const jobs[] = {
    "baker", "nurse", "teacher", "carpenter", "engineer", "farmer", "librarian", "pilot",
    "chemist", "architect", "plumber", "dentist", "journalist", "electrician", "gardener",
    "pharmacist", "tailor", "photographer", "accountant", "veterinarian", "butcher",
    "translator", "geologist", "firefighter", "musician"};
static const char *const employers[] = {
    "Halvor Mills", "Brightwater Foods", "Kessler and Rook", "Amberline Rail", "Corvane Press",
    "Duskfield Mining", "Elderglass Works", "Fairhollow Bank", "Greystone Builders",
    "Hollin Shipping", "Ironleaf Textiles", "Juniper Labs", "Kettering Motors", "Lanternfield Farms",
    "Marrow and Sons", "Northgale Power", "Oakridge Clinic", "Pinecrest Hotels", "Quillon Papers",
    "Redmarsh Brewery", "Silverbrook Dairy", "Thornwick Tools", "Umberly Glass", "Valewind Airlines",
    "Westerly Salt", "Yellowpine Lumber", "Zephyr Radio", "Copperfen Foundry", "Bramblegate Mill",
    "Stonehaven Post"};
static const char *const universities[] = {
    "Brennick University", "Aldermoor College", "Calloway Institute", "Dresmont University",
    "Everholt College", "Falkreach University", "Gildenmere Institute", "Harwell Academy",
    "Ivelstone University", "Jessamy College", "Korrin Polytechnic", "Lathmore University",
    "Merriden College", "Norwick Institute", "Orrington University", "Pemberlow College",
    "Queensmarch University", "Rostrevor Academy", "Saltmarsh University", "Tillingham College"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *person_city(const world_person *p) { return cities[p->city]; }
const char *person_job(const world_person *p) { return jobs[p->job]; }
const char *person_employer(const world_person *p) { return employers[p->employer]; }
const char *person_university(const world_person *p) { return universities[p->university]; }

void person_attr(const world_person *p, int attr, char *out, size_t size) {
    switch (attr) {
    case ATTR_YEAR: snprintf(out, size, "%d", p->year); break;
    case ATTR_CITY: snprintf(out, size, "%s", person_city(p)); break;
    case ATTR_JOB: snprintf(out, size, "%s", person_job(p)); break;
    case ATTR_EMPLOYER: snprintf(out, size, "%s", person_employer(p)); break;
    default: snprintf(out, size, "%s", person_university(p)); break;
    }
}

/* Case-blind: does s end with (begin with) t, s != t? */
static int ends_with(const char *s, const char *t) {
    size_t ls = strlen(s), lt = strlen(t);
    return ls > lt && strcasecmp(s + ls - lt, t) == 0;
}
static int begins_with(const char *s, const char *t) {
    size_t ls = strlen(s), lt = strlen(t);
    return ls > lt && strncasecmp(s, t, lt) == 0;
}

/* Every syllable pair, without duplicates and without a name that ends
 * (first names) or begins (last names) another. */
static int build_names(const char *const *starts, int n_starts, const char *const *ends,
                       int n_ends, int first, char (*out)[24], int n_out) {
    for (int i = 0; i < n_starts; i++)
        for (int j = 0; j < n_ends; j++) {
            char name[24];
            snprintf(name, sizeof name, "%s%s", starts[i], ends[j]);
            int clash = 0;
            for (int k = 0; k < n_out && !clash; k++)
                clash = strcasecmp(out[k], name) == 0 ||
                        (first ? ends_with(out[k], name) || ends_with(name, out[k])
                               : begins_with(out[k], name) || begins_with(name, out[k]));
            if (!clash) memcpy(out[n_out++], name, sizeof name);
        }
    return n_out;
}

static int make_first_names(world_people *w) {
    int cap = COUNT(first_starts) * (COUNT(female_ends) + COUNT(male_ends));
    w->first = calloc((size_t)cap, sizeof *w->first);
    w->first_female = calloc((size_t)cap, sizeof *w->first_female);
    if (!w->first || !w->first_female) return -1;
    int n_female = build_names(first_starts, COUNT(first_starts), female_ends, COUNT(female_ends), 1,
                               w->first, 0);
    for (int i = 0; i < n_female; i++) w->first_female[i] = 1;
    w->n_first = build_names(first_starts, COUNT(first_starts), male_ends, COUNT(male_ends), 1,
                             w->first, n_female);
    return 0;
}

static void draw_attributes(world_person *p, uint64_t *rng) {
    p->year = world_range(rng, 1900, 1999);
    p->city = world_below(rng, COUNT(cities));
    p->job = world_below(rng, COUNT(jobs));
    p->employer = world_below(rng, COUNT(employers));
    p->university = world_below(rng, COUNT(universities));
}

/* Draws distinct (first, last) pairs for every person. */
static int draw_people(world_people *w, char (*last)[24], int n_last, const int *n_group,
                       uint64_t seed) {
    size_t n_pairs = (size_t)w->n_first * (size_t)n_last;
    unsigned char *used = calloc(n_pairs, 1);
    if (!used) return -1;
    uint64_t rng = world_stream(seed, 1);
    int k = 0;
    for (int g = 0; g < N_GROUPS; g++)
        for (int i = 0; i < n_group[g]; i++, k++) {
            size_t pair;
            do pair = (size_t)(es_xorshift64s(&rng) % n_pairs);
            while (used[pair]);
            used[pair] = 1;
            world_person *p = &w->p[k];
            int f = (int)(pair / (size_t)n_last), l = (int)(pair % (size_t)n_last);
            snprintf(p->first, sizeof p->first, "%s", w->first[f]);
            snprintf(p->last, sizeof p->last, "%s", last[l]);
            snprintf(p->name, sizeof p->name, "%s %s", p->first, p->last);
            p->female = w->first_female[f];
            p->group = g;
            p->index = i;
            draw_attributes(p, &rng);
        }
    free(used);
    return 0;
}

int people_make(world_people *w, const es_world_params *params, es_error *err) {
    *w = (world_people){0};
    int n_group[N_GROUPS] = {params->n_known, params->n_abstain, params->n_unseen};
    char (*last)[24] = calloc((size_t)COUNT(last_starts) * COUNT(last_ends), sizeof *last);
    if (!last || make_first_names(w)) {
        free(last);
        people_free(w);
        return es_fail(err, "world: out of memory");
    }
    int n_last = build_names(last_starts, COUNT(last_starts), last_ends, COUNT(last_ends), 0, last, 0);
    long n = (long)n_group[0] + n_group[1] + n_group[2];
    long most = (long)w->n_first * n_last / 2; /* leaves rejection sampling fast */
    if (n > most) {
        free(last);
        people_free(w);
        return es_fail(err, "world: %ld people asked, at most %ld names can be made", n, most);
    }
    w->n = (int)n;
    w->p = calloc(n ? (size_t)n : 1, sizeof *w->p);
    if (!w->p || draw_people(w, last, n_last, n_group, params->seed)) {
        free(last);
        people_free(w);
        return es_fail(err, "world: out of memory");
    }
    free(last);
    return 0;
}

void people_free(world_people *w) {
    free(w->p);
    free(w->first);
    free(w->first_female);
    *w = (world_people){0};
}
