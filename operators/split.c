/*
 * brook — splitting a stream into branches (Kafka Streams' KStream.split()
 * and BranchedKStreamImpl).
 *
 * The split is one processor node; each branch is a pass-through child of
 * it, so that every branch has a node name of its own that later operators
 * attach to. The split forwards each record to the first branch whose
 * predicate holds (brook_ctx_forward_to()), else to the default branch.
 *
 * Names follow Kafka Streams: the split node is the prefix (or a generated
 * KSTREAM-BRANCH-<n>), and each branch node is the split's name followed by
 * the branch's name, or by its number (1, 2, ...; 0 for the default branch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"

typedef struct split_branch {
        brook_predicate_fn pred;
        void *opaque;
        /** The branch's stream: forwarding goes by its node name as it is
         *  when records flow, which brook_stream_as() may have changed. */
        const brook_stream_t *stream;
} split_branch_t;

/* The split node's opaque (and state). Branches are added after the node,
 * so the node keeps a pointer to this and the list grows behind it. */
typedef struct split_op {
        split_branch_t *branches;
        size_t cnt, cap;
        const brook_stream_t *dflt; /**< The default branch, or NULL. */
} split_op_t;

/* Freed with the builder; the name shares the allocation. */
struct brook_split_s {
        brook_builder_t *b;
        split_op_t *op;
        const brook_serde_t *key_serde, *value_serde;
        bool key_changed;
        char name[]; /**< The split node's name: the branches' prefix. */
};

static void split_op_destroy(void *opaque)
{
        split_op_t *op = opaque;

        free(op->branches);
        free(op);
}

static brook_err_t split_process(brook_ctx_t *ctx, brook_record_t *rec,
                                 void *state, char *errstr, size_t errstr_size)
{
        const split_op_t *op = state;
        size_t i;

        /* Only one branch sees a record, and the split does not change it,
         * so the input itself goes on. */
        for (i = 0; i < op->cnt; i++) {
                const split_branch_t *br = &op->branches[i];
                if (br->pred(rec, br->opaque))
                        return brook_ctx_forward_to(ctx, rec, br->stream->node,
                                                    errstr, errstr_size);
        }
        if (op->dflt)
                return brook_ctx_forward_to(ctx, rec, op->dflt->node, errstr,
                                            errstr_size);
        return BROOK_OK;
}

/* A branch node only gives the branch a name. */
static brook_err_t branch_process(brook_ctx_t *ctx, brook_record_t *rec,
                                  void *state, char *errstr, size_t errstr_size)
{
        (void)state;
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

brook_split_t *brook_stream_split(brook_stream_t *s, const char *prefix)
{
        brook_processor_def_t def = {.process = split_process,
                                     .opaque_destroy = split_op_destroy};
        brook_split_t *sp = NULL;
        split_op_t *op;
        char *gen = NULL;
        const char *name;
        size_t len;

        if (!s)
                return NULL;
        if (prefix && !*prefix) {
                brook__builder_fail(s->b, NULL, 0,
                                    "brook_stream_split: prefix is empty");
                return NULL;
        }
        /* A given prefix takes a number too, as in Kafka Streams. */
        gen = brook__builder_new_name(s->b, "KSTREAM-BRANCH");
        name = prefix ? prefix : gen;
        op = brook__xcalloc(1, sizeof *op);
        def.opaque = op;
        if (brook_builder_add_processor(s->b, name, &def,
                                        (const char *const *)&s->node, 1, NULL,
                                        0) == BROOK_OK) {
                len = strlen(name) + 1;
                sp = brook__xmalloc(sizeof *sp + len);
                sp->b = s->b;
                sp->op = op;
                sp->key_serde = s->key_serde;
                sp->value_serde = s->value_serde;
                sp->key_changed = s->key_changed;
                memcpy(sp->name, name, len);
                brook__builder_keep(s->b, sp);
        }
        free(gen);
        return sp;
}

/* Adds branch node "<split name><suffix>"; returns its stream or NULL. */
static brook_stream_t *branch_add(brook_split_t *sp, const char *suffix)
{
        brook_processor_def_t def = {.process = branch_process};
        const char *parent = sp->name;
        brook_stream_t *out = NULL;
        char *name;

        name = brook__xmalloc(strlen(sp->name) + strlen(suffix) + 1);
        sprintf(name, "%s%s", sp->name, suffix);
        /* Kafka Streams draws a number for each branch without using it;
         * drawing it too keeps later generated names the same as there. */
        free(brook__builder_new_name(sp->b, name));
        if (brook_builder_add_processor(sp->b, name, &def, &parent, 1, NULL,
                                        0) == BROOK_OK)
                out = brook__stream_new(sp->b, name, sp->key_serde,
                                        sp->value_serde, sp->key_changed);
        free(name);
        return out;
}

brook_stream_t *brook_split_branch(brook_split_t *sp, brook_predicate_fn pred,
                                   void *opaque, const char *name)
{
        split_op_t *op;
        brook_stream_t *out;
        char num[24];

        if (!sp)
                return NULL;
        op = sp->op;
        if (!pred) {
                brook__builder_fail(sp->b, NULL, 0,
                                    "brook_split_branch: predicate is NULL");
                return NULL;
        }
        if (op->dflt) {
                brook__builder_fail(sp->b, NULL, 0,
                                    "brook_split_branch: split \"%s\" already "
                                    "has its default branch, which comes last",
                                    sp->name);
                return NULL;
        }
        snprintf(num, sizeof num, "%zu", op->cnt + 1);
        out = branch_add(sp, name ? name : num);
        if (!out)
                return NULL;
        if (op->cnt == op->cap) {
                op->cap = op->cap ? op->cap * 2 : 4;
                op->branches = brook__xrealloc(op->branches,
                                               op->cap * sizeof *op->branches);
        }
        op->branches[op->cnt].pred = pred;
        op->branches[op->cnt].opaque = opaque;
        op->branches[op->cnt].stream = out;
        op->cnt++;
        return out;
}

brook_stream_t *brook_split_default(brook_split_t *sp, const char *name)
{
        brook_stream_t *out;

        if (!sp)
                return NULL;
        if (sp->op->dflt) {
                brook__builder_fail(sp->b, NULL, 0,
                                    "brook_split_default: split \"%s\" already "
                                    "has a default branch",
                                    sp->name);
                return NULL;
        }
        out = branch_add(sp, name ? name : "0");
        if (out)
                sp->op->dflt = out;
        return out;
}
