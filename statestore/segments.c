/*
 * brook — what the segmented stores share (segmented.c: window and
 * session stores; versioned.c: versioned stores): the ascending list of
 * the segments that hold data, and dropping every key below a bound from
 * the bytes store beneath.
 */
#include <string.h>

#include "store_int.h"

void brook__segs_add(int64_t **segs, size_t *cnt, size_t *cap,
                     pthread_mutex_t *lock, int64_t seg)
{
        size_t lo = 0, hi = *cnt;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if ((*segs)[mid] < seg)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < *cnt && (*segs)[lo] == seg)
                return;
        pthread_mutex_lock(lock);
        if (*cnt == *cap) {
                *cap = *cap ? 2 * *cap : 8;
                *segs = brook__xrealloc(*segs, *cap * sizeof **segs);
        }
        memmove(*segs + lo + 1, *segs + lo, (*cnt - lo) * sizeof **segs);
        (*segs)[lo] = seg;
        (*cnt)++;
        pthread_mutex_unlock(lock);
}

void brook__segs_drop_below(int64_t *segs, size_t *cnt, pthread_mutex_t *lock,
                            int64_t min_live)
{
        size_t n = 0;

        pthread_mutex_lock(lock);
        while (n < *cnt && segs[n] < min_live)
                n++;
        if (n) /* Also: no segment ever held data (segs is NULL). */
                memmove(segs, segs + n, (*cnt - n) * sizeof *segs);
        *cnt -= n;
        pthread_mutex_unlock(lock);
}

/* Whether bytes key @p k sorts before @p to (bytewise, shorter first). */
static bool key_below(const void *k, size_t ksz, const void *to, size_t tsz)
{
        int c = memcmp(k, to, ksz < tsz ? ksz : tsz);

        return c < 0 || (c == 0 && ksz < tsz);
}

brook_err_t brook__bytes_delete_below(void *base,
                                      const brook_kvstore_ops_t *ops,
                                      const void *from, size_t from_size,
                                      const void *to, size_t to_size,
                                      char *errstr, size_t errstr_size)
{
        brook_kvbytes_iter_t *it = NULL;
        brook__ptrvec_t keys = {0};
        const void *k, *v;
        size_t ksz, vsz, i;
        brook_err_t err;

        if (ops->version >= 2 && ops->delete_range)
                return ops->delete_range(base, from, from_size, to, to_size,
                                         errstr, errstr_size);
        /* A store without range deletes: key by key, collected first (a
         * write while the range is open is not safe). The range's end is
         * inclusive; the bound itself is not deleted. */
        if ((err = ops->range(base, from, from_size, to, to_size, &it, errstr,
                              errstr_size)))
                return err;
        while (!(err = it->next(it, &k, &ksz, &v, &vsz, errstr, errstr_size))) {
                brook_buf_t *b;
                if (!key_below(k, ksz, to, to_size))
                        continue;
                b = brook_buf_new();
                brook_buf_append(b, k, ksz);
                brook__ptrvec_push(&keys, b);
        }
        it->destroy(it);
        if (err == BROOK_ERR_END)
                err = BROOK_OK;
        for (i = 0; i < keys.cnt; i++) {
                brook_buf_t *b = keys.v[i];
                if (!err)
                        err = ops->put(base, brook_buf_data(b),
                                       brook_buf_len(b), NULL, 0, errstr,
                                       errstr_size);
                brook_buf_destroy(b);
        }
        brook__ptrvec_free(&keys);
        return err;
}
