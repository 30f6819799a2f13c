/*
 * brook — the order in which Kafka Streams' TopologyDescription lists a
 * sub-topology's nodes, and each node's successors and predecessors.
 *
 * Kafka Streams (InternalTopologyBuilder.describeSubtopology()) keeps both
 * in TreeSets ordered by its NodeComparator: the larger "size" first (1
 * plus the sizes of the node's successors), then by name. A node's
 * successors and predecessors are inserted while the nodes are being
 * connected, in the iteration order of a HashMap of the nodes by name, and
 * sizes grow as connections are made: a set compares with the sizes of the
 * moment, so its order is not always the final sizes' order. To print what
 * Kafka Streams prints, brook replays that: Java's String.hashCode() and
 * HashMap bucket order, and TreeMap's red-black insertion.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "brook_int.h"

/* One entry of a TreeSet: a node's position in the sub-topology. */
typedef struct rb {
        int key;
        int left, right, parent; /* indexes into the pool, -1: none */
        bool red;
} rb_t;

/* A TreeSet of nodes. */
typedef struct rbset {
        rb_t *pool;
        int cnt, cap, root;
} rbset_t;

/* What describing one sub-topology replays. */
typedef struct order_ctx {
        const brook__node_t **nodes; /* the sub-topology's, by position */
        int cnt;
        int32_t *size; /* Java ints */
        rbset_t *succ, *pred;
} order_ctx_t;

int32_t brook__java_string_hash(const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        uint32_t h = 0;

        while (*p) {
                uint32_t cp;
                int n;
                if (*p < 0x80) {
                        cp = *p;
                        n = 1;
                } else if ((*p & 0xe0) == 0xc0 && p[1]) {
                        cp = (uint32_t)(*p & 0x1f) << 6 | (p[1] & 0x3f);
                        n = 2;
                } else if ((*p & 0xf0) == 0xe0 && p[1] && p[2]) {
                        cp = (uint32_t)(*p & 0x0f) << 12 |
                             (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
                        n = 3;
                } else if ((*p & 0xf8) == 0xf0 && p[1] && p[2] && p[3]) {
                        cp = (uint32_t)(*p & 0x07) << 18 |
                             (uint32_t)(p[1] & 0x3f) << 12 |
                             (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
                        n = 4;
                } else {
                        cp = *p;
                        n = 1;
                }
                if (cp >= 0x10000) {
                        cp -= 0x10000;
                        h = 31 * h + (0xd800 + (cp >> 10));
                        h = 31 * h + (0xdc00 + (cp & 0x3ff));
                } else {
                        h = 31 * h + cp;
                }
                p += n;
        }
        return (int32_t)h;
}

/* NodeComparator with the sizes of the moment. */
static int node_cmp(const order_ctx_t *o, int a, int b)
{
        int c;

        if (a == b)
                return 0;
        if (o->size[a] != o->size[b])
                return o->size[b] > o->size[a] ? 1 : -1;
        c = strcmp(o->nodes[a]->name, o->nodes[b]->name);
        return c < 0 ? -1 : c > 0;
}

/* ---------------------------------------- TreeMap's red-black insertion */

#define P(s, i)   ((i) < 0 ? -1 : (s)->pool[i].parent)
#define L(s, i)   ((i) < 0 ? -1 : (s)->pool[i].left)
#define R(s, i)   ((i) < 0 ? -1 : (s)->pool[i].right)
#define RED(s, i) ((i) >= 0 && (s)->pool[i].red)

static void set_red(rbset_t *s, int i, bool red)
{
        if (i >= 0)
                s->pool[i].red = red;
}

static void rotate_left(rbset_t *s, int p)
{
        int r;

        if (p < 0)
                return;
        r = s->pool[p].right;
        s->pool[p].right = s->pool[r].left;
        if (s->pool[r].left >= 0)
                s->pool[s->pool[r].left].parent = p;
        s->pool[r].parent = s->pool[p].parent;
        if (s->pool[p].parent < 0)
                s->root = r;
        else if (s->pool[s->pool[p].parent].left == p)
                s->pool[s->pool[p].parent].left = r;
        else
                s->pool[s->pool[p].parent].right = r;
        s->pool[r].left = p;
        s->pool[p].parent = r;
}

static void rotate_right(rbset_t *s, int p)
{
        int l;

        if (p < 0)
                return;
        l = s->pool[p].left;
        s->pool[p].left = s->pool[l].right;
        if (s->pool[l].right >= 0)
                s->pool[s->pool[l].right].parent = p;
        s->pool[l].parent = s->pool[p].parent;
        if (s->pool[p].parent < 0)
                s->root = l;
        else if (s->pool[s->pool[p].parent].right == p)
                s->pool[s->pool[p].parent].right = l;
        else
                s->pool[s->pool[p].parent].left = l;
        s->pool[l].right = p;
        s->pool[p].parent = l;
}

static void fix_after_insertion(rbset_t *s, int x)
{
        s->pool[x].red = true;
        while (x >= 0 && x != s->root && RED(s, P(s, x))) {
                if (P(s, x) == L(s, P(s, P(s, x)))) {
                        int y = R(s, P(s, P(s, x)));
                        if (RED(s, y)) {
                                set_red(s, P(s, x), false);
                                set_red(s, y, false);
                                set_red(s, P(s, P(s, x)), true);
                                x = P(s, P(s, x));
                        } else {
                                if (x == R(s, P(s, x))) {
                                        x = P(s, x);
                                        rotate_left(s, x);
                                }
                                set_red(s, P(s, x), false);
                                set_red(s, P(s, P(s, x)), true);
                                rotate_right(s, P(s, P(s, x)));
                        }
                } else {
                        int y = L(s, P(s, P(s, x)));
                        if (RED(s, y)) {
                                set_red(s, P(s, x), false);
                                set_red(s, y, false);
                                set_red(s, P(s, P(s, x)), true);
                                x = P(s, P(s, x));
                        } else {
                                if (x == L(s, P(s, x))) {
                                        x = P(s, x);
                                        rotate_right(s, x);
                                }
                                set_red(s, P(s, x), false);
                                set_red(s, P(s, P(s, x)), true);
                                rotate_left(s, P(s, P(s, x)));
                        }
                }
        }
        s->pool[s->root].red = false;
}

static void rb_add(const order_ctx_t *o, rbset_t *s, int key)
{
        int t = s->root, parent = -1, cmp = 0, e;

        while (t >= 0) {
                parent = t;
                cmp = node_cmp(o, key, s->pool[t].key);
                if (cmp < 0)
                        t = s->pool[t].left;
                else if (cmp > 0)
                        t = s->pool[t].right;
                else
                        return;
        }
        if (s->cnt == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 4;
                s->pool = brook__xrealloc(s->pool,
                                          (size_t)s->cap * sizeof *s->pool);
        }
        e = s->cnt++;
        s->pool[e] =
                (rb_t){.key = key, .left = -1, .right = -1, .parent = parent};
        if (parent < 0) {
                s->root = e;
                return;
        }
        if (cmp < 0)
                s->pool[parent].left = e;
        else
                s->pool[parent].right = e;
        fix_after_insertion(s, e);
}

/* In-order keys of @p s into @p out (the node indexes of the builder). */
static size_t rb_walk(const order_ctx_t *o, const rbset_t *s, int i, int *out,
                      size_t n)
{
        if (i < 0)
                return n;
        n = rb_walk(o, s, s->pool[i].left, out, n);
        out[n++] = o->nodes[s->pool[i].key]->idx;
        return rb_walk(o, s, s->pool[i].right, out, n);
}

/* -------------------------------------------------------------- replay */

/* updateSize(): @p node and everything it is connected below grow. */
static void update_size(order_ctx_t *o, int node, int32_t delta, int depth)
{
        if (depth > o->cnt + 1) /* a cycle: not a topology brook builds */
                return;
        o->size[node] = (int32_t)((uint32_t)o->size[node] + (uint32_t)delta);
        for (int i = 0; i < o->pred[node].cnt; i++)
                update_size(o, o->pred[node].pool[i].key, delta, depth + 1);
}

static int pos_of(const order_ctx_t *o, int idx)
{
        for (int i = 0; i < o->cnt; i++)
                if (o->nodes[i]->idx == idx)
                        return i;
        return -1;
}

void brook__describe_order(const brook_builder_t *b,
                           const brook__subtopo_t *sub, int *nodes_out,
                           int **succ_out, size_t *succ_cnt, int **pred_out,
                           size_t *pred_cnt)
{
        order_ctx_t o = {.cnt = (int)sub->nodes.cnt};
        int cap = 16, *hashed, i, j;
        int32_t *h;

        o.nodes = brook__xcalloc((size_t)o.cnt + 1, sizeof *o.nodes);
        o.size = brook__xcalloc((size_t)o.cnt + 1, sizeof *o.size);
        o.succ = brook__xcalloc((size_t)o.cnt + 1, sizeof *o.succ);
        o.pred = brook__xcalloc((size_t)o.cnt + 1, sizeof *o.pred);
        h = brook__xcalloc((size_t)o.cnt + 1, sizeof *h);
        hashed = brook__xcalloc((size_t)o.cnt + 1, sizeof *hashed);
        for (i = 0; i < o.cnt; i++) {
                o.nodes[i] = sub->nodes.v[i];
                o.size[i] = 1;
                o.succ[i].root = o.pred[i].root = -1;
                h[i] = brook__java_string_hash(o.nodes[i]->name);
                h[i] ^= (int32_t)((uint32_t)h[i] >> 16);
        }
        /* A HashMap's capacity for this many entries (load factor 0.75),
         * then its iteration: by bucket, and within one in insertion
         * order (the nodes' creation order, as Kafka Streams adds them). */
        while (o.cnt > cap * 3 / 4)
                cap *= 2;
        for (i = 0, j = 0; j < cap; j++)
                for (int k = 0; k < o.cnt; k++)
                        if ((int)((uint32_t)h[k] & (uint32_t)(cap - 1)) == j)
                                hashed[i++] = k;
        /* Connect each node to its predecessors, as Kafka Streams does. */
        for (i = 0; i < o.cnt; i++) {
                int n = hashed[i];
                const brook__node_t *node = o.nodes[n];
                for (size_t p = 0; p < node->parent_cnt; p++) {
                        int pred = pos_of(&o, node->parents[p]);
                        if (pred < 0)
                                continue;
                        rb_add(&o, &o.pred[n], pred);
                        rb_add(&o, &o.succ[pred], n);
                        update_size(&o, pred, o.size[n], 0);
                }
        }
        /* The sub-topology's own set is sorted with the final sizes. */
        for (i = 0; i < o.cnt; i++)
                hashed[i] = i;
        for (i = 1; i < o.cnt; i++)
                for (j = i; j > 0 && node_cmp(&o, hashed[j], hashed[j - 1]) < 0;
                     j--) {
                        int t = hashed[j];
                        hashed[j] = hashed[j - 1];
                        hashed[j - 1] = t;
                }
        for (i = 0; i < o.cnt; i++) {
                int n = hashed[i];
                nodes_out[i] = o.nodes[n]->idx;
                succ_cnt[i] =
                        rb_walk(&o, &o.succ[n], o.succ[n].root, succ_out[i], 0);
                pred_cnt[i] =
                        rb_walk(&o, &o.pred[n], o.pred[n].root, pred_out[i], 0);
        }
        for (i = 0; i < o.cnt; i++) {
                free(o.succ[i].pool);
                free(o.pred[i].pool);
        }
        free(o.nodes);
        free(o.size);
        free(o.succ);
        free(o.pred);
        free(h);
        free(hashed);
}
