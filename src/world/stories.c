/* Short children's stories (60-120 words), each starting "Once upon a
 * time": an animal hero, a place, a problem, a failed try, a friend who
 * helps, an ending and sometimes a lesson, every part drawn from word
 * lists. The creative prompts are story openings cut right after the
 * hero's name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world/world.h"

typedef struct story_name { const char *name; int female; } story_name;

static const char *const adjectives[] = {"little", "brave", "curious", "shy", "clever", "gentle",
                                         "tiny", "cheerful", "sleepy", "kind", "proud", "quiet",
                                         "small", "busy", "lively", "fluffy"};
static const char *const animals[] = {"fox", "rabbit", "bear", "owl", "mouse", "duck", "turtle",
                                      "squirrel", "hedgehog", "deer", "frog", "kitten", "puppy",
                                      "goat", "otter", "badger", "lamb", "robin"};
static const story_name names[] = {
    {"Pip", 0}, {"Lulu", 1}, {"Bramble", 0}, {"Tika", 1}, {"Nib", 0}, {"Poppy", 1}, {"Fern", 1},
    {"Toby", 0}, {"Juniper", 1}, {"Wren", 1}, {"Olli", 0}, {"Bo", 0}, {"Hazel", 1}, {"Sunny", 1},
    {"Dot", 1}, {"Rufus", 0}, {"Milo", 0}, {"Clover", 1}, {"Biscuit", 0}, {"Maple", 1}};
static const char *const places[] = {"in a green forest", "by a quiet river", "on a windy hill",
                                     "in a small village", "near a big lake", "in a sunny meadow",
                                     "at the edge of the sea", "in an old garden",
                                     "under a tall mountain", "in a snowy valley"};
static const char *const hobbies[] = {"singing songs", "collecting pretty stones",
                                      "watching the clouds", "running through the tall grass",
                                      "splashing in puddles", "counting the stars",
                                      "picking berries", "telling funny jokes"};
static const char *const feelings[] = {"sad", "worried", "lonely", "scared", "upset", "unhappy"};

/* A problem with its own failed try and the friend's help ({H} the hero's
 * name, {h} he/she, {o} him/her, {s} his/her, {F} the friend's name). */
typedef struct story_problem { const char *problem, *attempt, *help; } story_problem;

static const story_problem problems[] = {
    {"lost {s} favorite red ball", "{h} looked under every bush and behind every rock, but the ball was gone",
     "{F} remembered seeing something red by the old oak tree, and there was the ball"},
    {"could not find the way home", "{h} walked this way and that way until {s} paws were tired",
     "{F} knew every path, and together they followed the stream back home"},
    {"was afraid of the dark", "{h} tried to stay awake all night with {s} eyes wide open",
     "{F} showed {o} the fireflies that glow at night, and the dark did not seem so scary"},
    {"wanted to reach the sweetest apples at the top of a tree", "{h} jumped and jumped, but the apples were too high",
     "{F} climbed onto a rock and lifted {o} up, and they shared the apples"},
    {"had no friends to play with", "{h} sat alone by the water and waited",
     "{F} asked {o} to play a game of hide and seek, and they laughed all afternoon"},
    {"dropped a shiny key into the pond", "{h} reached into the water, but the key sank too deep",
     "{F} dived down to the bottom and brought the key back up"},
    {"wished to see the snow", "{h} waited by the window every morning, but no snow came",
     "{F} led {o} up the mountain, where the snow was soft and white"},
    {"broke {s} little wooden cart", "{h} tried to fix it with grass, but the wheel fell off again",
     "{F} found a strong stick and some string, and they fixed the wheel together"},
    {"could not sleep because of a loud storm", "{h} hid under {s} blanket and covered {s} ears",
     "{F} told {o} a calm story until the storm passed"},
};

static const char *const endings[] = {
    "From that day on, {H} and {F} were the best of friends.",
    "{H} smiled all the way home.",
    "That night, {H} slept happily, dreaming of new adventures.",
    "{H} thanked {F} with a big hug.",
    "And everyone in the {P} heard about the kind {A} named {F}."};
static const char *const lessons[] = {
    "{H} learned that asking for help is a brave thing to do.",
    "{H} learned that friends make every problem smaller.",
    "{H} learned that it is good to be patient.",
    "{H} learned that kindness always comes back."};
static const char *const extras[] = {
    "The sun was warm and the birds were singing.",
    "The wind moved softly through the leaves.",
    "Everything was quiet and still.",
    "The sky was blue and full of white clouds."};

typedef struct story_cast {
    const story_name *hero, *friend_;
    const char *adj, *animal, *adj2, *animal2, *place, *home; /* home: "forest", ... for endings */
} story_cast;

/* Expands the {..} placeholders; a sentence's first letter is written as
 * given, so templates that start with {h} get it capitalised here. */
static void say(es_buf *b, const char *t, const story_cast *c, int capital) {
    for (; *t; t++) {
        if (t[0] != '{' || !t[1] || t[2] != '}') {
            es_buf_put(b, t, 1);
            continue;
        }
        char k = t[1];
        t += 2;
        int f = c->hero->female;
        switch (k) {
        case 'H': es_buf_puts(b, c->hero->name); break;
        case 'F': es_buf_puts(b, c->friend_->name); break;
        case 'h': es_buf_puts(b, capital ? (f ? "She" : "He") : (f ? "she" : "he")); break;
        case 'o': es_buf_puts(b, f ? "her" : "him"); break;
        case 's': es_buf_puts(b, f ? "her" : "his"); break;
        case 'P': es_buf_puts(b, c->home); break;
        case 'A': es_buf_puts(b, c->animal2); break;
        }
        capital = 0;
    }
}

static void draw_cast(story_cast *c, uint64_t *rng) {
    c->hero = &WORLD_PICK(rng, names);
    do c->friend_ = &WORLD_PICK(rng, names);
    while (c->friend_ == c->hero);
    c->adj = WORLD_PICK(rng, adjectives);
    c->animal = WORLD_PICK(rng, animals);
    c->adj2 = WORLD_PICK(rng, adjectives);
    do c->animal2 = WORLD_PICK(rng, animals);
    while (c->animal2 == c->animal);
    int place = world_below(rng, (int)(sizeof places / sizeof places[0]));
    static const char *const homes[] = {"forest", "valley", "hills", "village", "valley",
                                        "meadow", "seaside", "garden", "valley", "valley"};
    c->place = places[place];
    c->home = homes[place];
}

/* The opening up to and including the hero's name. */
static void opening(es_buf *b, const story_cast *c, int form) {
    if (form == 0)
        es_buf_printf(b, "Once upon a time, a %s %s named %s", c->adj, c->animal, c->hero->name);
    else
        es_buf_printf(b, "Once upon a time, %s, there lived a %s %s named %s", c->place, c->adj,
                    c->animal, c->hero->name);
}

static int count_words(const char *s) {
    int n = 0, in = 0;
    for (; *s; s++) {
        int space = *s == ' ' || *s == '\n';
        n += !space && !in;
        in = !space;
    }
    return n;
}

/* One story with the chosen optional parts. */
static char *write_story(const story_cast *c, int form, const story_problem *pr, const char *hobby,
                         const char *feeling, const char *ending, const char *lesson,
                         int n_extras, const char *const *extra) {
    es_buf b = {0};
    opening(&b, c, form);
    es_buf_puts(&b, form == 0 ? " lived " : ".");
    if (form == 0) es_buf_printf(&b, "%s.", c->place);
    if (hobby) es_buf_printf(&b, " %s loved %s.", c->hero->female ? "She" : "He", hobby);
    for (int i = 0; i < n_extras; i++) es_buf_printf(&b, " %s", extra[i]);
    es_buf_puts(&b, " One day, ");
    say(&b, "{H} ", c, 0);
    say(&b, pr->problem, c, 0);
    es_buf_printf(&b, ". %s felt %s and did not know what to do. ", c->hero->female ? "She" : "He",
                feeling);
    say(&b, pr->attempt, c, 1);
    es_buf_printf(&b, ". Then %s met a %s %s named %s. ", c->hero->female ? "she" : "he", c->adj2,
                c->animal2, c->friend_->name);
    say(&b, pr->help, c, 0);
    es_buf_puts(&b, ". ");
    say(&b, ending, c, 1);
    if (lesson) {
        es_buf_puts(&b, " ");
        say(&b, lesson, c, 1);
    }
    return es_buf_take(&b);
}

/* A story of 60-120 words: optional parts are added until it is long
 * enough and dropped while it is too long. */
static char *make_story(uint64_t *rng) {
    story_cast c;
    draw_cast(&c, rng);
    int form = world_below(rng, 2);
    const story_problem *pr = &WORLD_PICK(rng, problems);
    const char *hobby = world_below(rng, 2) ? WORLD_PICK(rng, hobbies) : NULL;
    const char *feeling = WORLD_PICK(rng, feelings), *ending = WORLD_PICK(rng, endings);
    const char *lesson = world_below(rng, 2) ? WORLD_PICK(rng, lessons) : NULL;
    const char *extra[4];
    int first_extra = world_below(rng, 4);
    for (int i = 0; i < 4; i++) extra[i] = extras[(first_extra + i) % 4];
    for (int n_extras = 0;; n_extras++) {
        char *text = write_story(&c, form, pr, hobby, feeling, ending, lesson, n_extras, extra);
        if (!text) return NULL;
        int words = count_words(text);
        if (words > 120 && (lesson || hobby)) {
            free(text);
            if (lesson) lesson = NULL;
            else hobby = NULL;
            n_extras--;
            continue;
        }
        if (words >= 60 || n_extras == 4) return text;
        free(text);
    }
}

int stories_make(uint64_t seed, int n, world_docs *docs) {
    uint64_t rng = world_stream(seed, 6);
    for (int i = 0; i < n; i++)
        if (docs_add(docs, make_story(&rng))) return -1;
    return 0;
}

char *stories_prompts(uint64_t seed, int n) {
    uint64_t rng = world_stream(seed, 7);
    es_buf b = {0};
    for (int i = 0; i < n; i++) {
        story_cast c;
        draw_cast(&c, &rng);
        opening(&b, &c, world_below(&rng, 2));
        es_buf_puts(&b, "\n");
    }
    return es_buf_take(&b);
}
