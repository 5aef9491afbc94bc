/*
 * dict.c - a hash map in shared memory (mproc/dict.h).
 *
 * Layout.  Everything is found by offsets from the header (signed: in
 * the shared heap a block may lie below it), so the dict works wherever
 * it is mapped.  The table is one block: its capacity, then slots of
 * (hash, offset of an entry), linear probing, at most half the slots in
 * use (live or tombstone).  An entry is one block: hash, insertion
 * number, lengths, then the key's bytes and the value's.  Blocks come
 * from the shared heap (mp_dict_new), or from the arena behind the
 * header (mp_dict_init): power-of-two units carved from a bump pointer,
 * with one free list per size, all changed under the dict's lock only.
 *
 * Crash safety.  Every change runs under the lock and follows one
 * pattern: record the intent (struct intent: what the change is, the slot
 * word whose store commits it, the block it will give up), take a fresh
 * block and write it whole, then commit with one release store - the slot
 * takes the new entry (set), or a tombstone (delete), or the header takes
 * the new table (growth, and clear in the heap) - and only then free what
 * was given up.  The next holder after a death (the lock says
 * -EOWNERDEAD) looks at the record: not committed, it frees the fresh
 * block; committed, it frees the stale one; then it recounts the length
 * from the table.  Each of those steps can itself be cut by a death and
 * done again by the next holder:
 *  - in an arena, a block is free exactly when the allocator says so, and
 *    the holder is the allocator's only user, so "already done?" is
 *    answered by looking: a popped unit is not its list's head any more,
 *    a freed one is, a bumped one ends at the top;
 *  - in the heap, which others use meanwhile, a block may never be freed
 *    twice, so its record field is cleared before mp_heap_free: a death
 *    between the two leaks that one block, never more.
 * Releases order a change's stores for whoever looks next; the next
 * holder's acquire of the lock pairs with them.
 */
#include "dict.h"

#include <signal.h>
#include <stdlib.h>


enum { SRC_FREE = 1, SRC_BUMP = 2 };

/*
 * Fault injection for the tests: a process that sets mp__dict_crash_at
 * to n kills itself (SIGKILL) at the n-th STEP it passes - the points
 * between the stores of a change, of the allocator and of a recovery -
 * so a test can cut every change at every point, one by one.  0 (the
 * default): never; the cost is one load and a branch never taken.
 */
long mp__dict_crash_at;
static long crash_steps;

static __attribute__((noinline, cold)) void crash_step(void)
{
	if (++crash_steps == mp__dict_crash_at)
		raise(SIGKILL);
}

#define STEP()                                                          \
	do {                                                            \
		if (__builtin_expect(mp__dict_crash_at != 0, 0))        \
			crash_step();                                   \
	} while (0)

/* ---- blocks ------------------------------------------------------------- */

static inline struct dict_unit *unit_at(mp_dict_t *d, int64_t payload)
{
	return at(d, payload - UNIT_HDR);
}

/* Free an arena unit (payload offset p) unless it already is: the head
 * of its list (only the holder changes the lists, so a unit freed by a
 * dead holder is still the head when we look). */
static void arena_put(mp_dict_t *d, int64_t p)
{
	struct dict_unit *u = unit_at(d, p);
	int64_t uo = p - UNIT_HDR;
	_Atomic int64_t *h = &d->head[u->cls];
	int64_t first = atomic_load_explicit(h, memory_order_relaxed);

	if (first == uo)
		return;
	u->next = first;
	STEP();
	/* Release: the unit's link before the unit is the head. */
	atomic_store_explicit(h, uo, memory_order_release);
	STEP();
}

/*
 * Take a block of n bytes for the current change and record it as
 * in.fresh (the record before the allocator moves, so a death in
 * between is undone by drop_fresh).  0 with *off its payload's offset
 * (negative offsets are fine: a heap block may lie below the header),
 * or -ENOSPC / -ENOMEM.
 */
static int take_block(mp_dict_t *d, uint64_t n, int64_t *off)
{
	if (in_heap(d)) {
		int err = 0;
		void *p = mp__heap_alloc_raw(n, &err);
		if (!p)
			return err;
		STEP();
		*off = off_of(d, p);
		atomic_store_explicit(&d->in.fresh, *off, memory_order_release);
		STEP();
		return 0;
	}
	int c = cls_of(n + UNIT_HDR);
	if (c >= NCLS)
		return -ENOSPC;
	uint64_t size = (uint64_t)32 << c;
	int64_t uo = atomic_load_explicit(&d->head[c], memory_order_relaxed);
	if (uo) {
		struct dict_unit *u = at(d, uo);
		*off = uo + UNIT_HDR;
		atomic_store_explicit(&d->in.src, SRC_FREE,
		                      memory_order_relaxed);
		atomic_store_explicit(&d->in.fresh, *off, memory_order_release);
		STEP();
		atomic_store_explicit(&d->head[c], u->next,
		                      memory_order_release);
		STEP();
		return 0;
	}
	uint64_t top = atomic_load_explicit(&d->top, memory_order_relaxed);
	if (size > d->size - top)
		return -ENOSPC;
	struct dict_unit *u = at(d, (int64_t)top);
	*u = (struct dict_unit){ .magic = UNIT_MAGIC, .cls = (uint32_t)c };
	*off = (int64_t)top + UNIT_HDR;
	atomic_store_explicit(&d->in.src, SRC_BUMP, memory_order_relaxed);
	/* Release: the unit's header before the record names it. */
	atomic_store_explicit(&d->in.fresh, *off, memory_order_release);
	STEP();
	atomic_store_explicit(&d->top, top + size, memory_order_release);
	STEP();
	return 0;
}

/* Give up the block a record field names (see the opening comment for
 * why each home does it its way). */
static void drop(mp_dict_t *d, _Atomic int64_t *field, bool fresh)
{
	int64_t p = atomic_load_explicit(field, memory_order_acquire);

	if (!p)
		return;
	if (in_heap(d)) {
		atomic_store_explicit(field, 0, memory_order_release);
		STEP();
		mp_heap_free(at(d, p));
		STEP();
		return;
	}
	if (!fresh ||
	    atomic_load_explicit(&d->in.src,
	                         memory_order_relaxed) == SRC_FREE) {
		arena_put(d, p);
		return;
	}
	/* Bumped: roll the top back if it moved past this unit. */
	struct dict_unit *u = unit_at(d, p);
	uint64_t end = (uint64_t)(p - UNIT_HDR) + ((uint64_t)32 << u->cls);
	if (atomic_load_explicit(&d->top, memory_order_relaxed) == end)
		atomic_store_explicit(&d->top, (uint64_t)(p - UNIT_HDR),
		                      memory_order_release);
	STEP();
}

/* ---- the intent record --------------------------------------------------- */

static void begin(mp_dict_t *d, uint32_t op, int64_t link, int64_t stale)
{
	atomic_store_explicit(&d->in.fresh, 0, memory_order_relaxed);
	atomic_store_explicit(&d->in.stale, stale, memory_order_relaxed);
	atomic_store_explicit(&d->in.link, link, memory_order_relaxed);
	STEP();
	/* Release: the fields before the record is live. */
	atomic_store_explicit(&d->in.op, op, memory_order_release);
	STEP();
}

static void end(mp_dict_t *d)
{
	STEP();
	/* Release: the whole change before the record is closed. */
	atomic_store_explicit(&d->in.op, OP_NONE, memory_order_release);
}

/* ---- tables -------------------------------------------------------------- */

/* A zeroed table of cap slots in block p (a table's slots are read only
 * once it is published: plain stores suffice before that). */
static struct dict_table *table_init(mp_dict_t *d, int64_t p, uint64_t cap)
{
	struct dict_table *t = at(d, p);
	memset(t, 0, table_bytes(cap));
	t->cap = cap;
	return t;
}

/* Put (h, off) in the first free slot of a table being built. */
static void table_place(struct dict_table *t, uint64_t h, int64_t off)
{
	uint64_t mask = t->cap - 1;
	for (uint64_t i = h & mask;; i = (i + 1) & mask)
		if (!atomic_load_explicit(&t->s[i].off, memory_order_relaxed)) {
			atomic_store_explicit(&t->s[i].hash, h,
			                      memory_order_relaxed);
			atomic_store_explicit(&t->s[i].off, off,
			                      memory_order_relaxed);
			return;
		}
}

/* Count live and used slots again (after a death: the counters are
 * updated after the commit, so a death may have skipped them). */
static void recount(mp_dict_t *d)
{
	struct dict_table *t = table_of(d);
	uint64_t live = 0, used = 0;
	for (uint64_t i = 0; i < t->cap; i++) {
		int64_t o = atomic_load_explicit(&t->s[i].off,
		                                 memory_order_relaxed);
		used += o != 0;
		live += o != 0 && o != TOMB;
	}
	d->used = used;
	STEP();
	atomic_store_explicit(&d->len, live, memory_order_relaxed);
}

/*
 * Move to a table of cap slots (growth, or tombstones swept): a new
 * table is filled beside the old one, which stays whole until the one
 * store that publishes the new.  0, -ENOSPC, -ENOMEM.
 */
static int resize(mp_dict_t *d, uint64_t cap)
{
	struct dict_table *old = table_of(d);
	begin(d, OP_RESIZE, 0, off_of(d, old));
	int64_t p;
	int r = take_block(d, table_bytes(cap), &p);
	if (r < 0) {
		end(d);
		return r;
	}
	struct dict_table *t = table_init(d, p, cap);
	for (uint64_t i = 0; i < old->cap; i++) {
		int64_t o = atomic_load_explicit(&old->s[i].off,
		                                 memory_order_relaxed);
		if (o && o != TOMB)
			table_place(t, atomic_load_explicit(&old->s[i].hash,
			            memory_order_relaxed), o);
	}
	STEP();
	/* Release: the new table's slots before it is the table. */
	atomic_store_explicit(&d->table, p, memory_order_release);
	STEP();
	d->used = atomic_load_explicit(&d->len, memory_order_relaxed);
	drop(d, &d->in.stale, false);
	end(d);
	return 0;
}

/* Room for one more used slot: grow (or sweep tombstones) first when
 * the table would be more than half used. */
static int make_room(mp_dict_t *d)
{
	struct dict_table *t = table_of(d);
	if ((d->used + 1) * 2 <= t->cap)
		return 0;
	uint64_t want = atomic_load_explicit(&d->len, memory_order_relaxed) + 1;
	uint64_t cap = MIN_CAP;
	while (cap < want * 3)
		cap <<= 1;
	return resize(d, cap);
}

/* ---- clear --------------------------------------------------------------- */

/* An arena's clear: every unit back, a first table at the start.  Each
 * store is one a rerun makes again the same way. */
static void arena_reset(mp_dict_t *d)
{
	for (int c = 0; c < NCLS; c++)
		atomic_store_explicit(&d->head[c], 0, memory_order_relaxed);
	STEP();
	int c = cls_of(table_bytes(MIN_CAP) + UNIT_HDR);
	struct dict_unit *u = at(d, HDR_SIZE);
	*u = (struct dict_unit){ .magic = UNIT_MAGIC, .cls = (uint32_t)c };
	table_init(d, HDR_SIZE + UNIT_HDR, MIN_CAP);
	STEP();
	atomic_store_explicit(&d->table, HDR_SIZE + UNIT_HDR,
	                      memory_order_release);
	STEP();
	atomic_store_explicit(&d->top, HDR_SIZE + ((uint64_t)32 << c),
	                      memory_order_release);
	STEP();
	d->used = 0;
	atomic_store_explicit(&d->len, 0, memory_order_relaxed);
}

/* The heap's clear, after the new table is published: free the old
 * table's entries (each slot emptied before its entry is freed), then
 * the old table. */
static void heap_finish_clear(mp_dict_t *d)
{
	int64_t op = atomic_load_explicit(&d->in.stale, memory_order_acquire);
	if (!op)
		return;
	struct dict_table *old = at(d, op);
	for (uint64_t i = 0; i < old->cap; i++) {
		int64_t o = atomic_load_explicit(&old->s[i].off,
		                                 memory_order_relaxed);
		if (!o || o == TOMB)
			continue;
		atomic_store_explicit(&old->s[i].off, 0, memory_order_release);
		STEP();
		mp_heap_free(at(d, o));
		STEP();
	}
	drop(d, &d->in.stale, false);
}

static int clear_locked(mp_dict_t *d)
{
	if (!in_heap(d)) {
		begin(d, OP_CLEAR, 0, 0);
		arena_reset(d);
		end(d);
		return 0;
	}
	begin(d, OP_CLEAR, 0, atomic_load_explicit(&d->table,
	                                           memory_order_relaxed));
	int64_t p;
	int r = take_block(d, table_bytes(MIN_CAP), &p);
	if (r < 0) {
		end(d);
		return r;
	}
	table_init(d, p, MIN_CAP);
	STEP();
	atomic_store_explicit(&d->table, p, memory_order_release);
	STEP();
	d->used = 0;
	atomic_store_explicit(&d->len, 0, memory_order_relaxed);
	heap_finish_clear(d);
	end(d);
	return 0;
}

/* ---- recovery ------------------------------------------------------------ */

/* The lock came to us from a dead holder: finish or undo its change. */
static void recover(mp_dict_t *d)
{
	uint32_t op = atomic_load_explicit(&d->in.op, memory_order_acquire);
	memory_order rx = memory_order_relaxed;
	int64_t fresh = atomic_load_explicit(&d->in.fresh, rx);
	int64_t stale = atomic_load_explicit(&d->in.stale, rx);
	int64_t link = atomic_load_explicit(&d->in.link, rx);
	int64_t table = atomic_load_explicit(&d->table, rx);
	bool done;

	d->deaths++;
	d->repairs += op != OP_NONE;
	switch (op) {
	case OP_SET:
	case OP_DEL: {
		_Atomic int64_t *w = at(d, link);
		int64_t now = atomic_load_explicit(w, memory_order_relaxed);
		done = op == OP_SET ? now == fresh : now != stale;
		break;
	}
	case OP_RESIZE:
		done = table == fresh;
		break;
	case OP_CLEAR:
		if (!in_heap(d)) {
			arena_reset(d);
			end(d);
			return;
		}
		done = table == fresh;
		if (done)
			heap_finish_clear(d);
		break;
	default:
		recount(d);
		return;
	}
	if (done)
		drop(d, &d->in.stale, false);
	else
		drop(d, &d->in.fresh, true);
	recount(d);
	end(d);
}

int mp__dict_lock(mp_dict_t *d, int64_t timeout_ns)
{
	int r = mp_lock_acquire(&d->lock, timeout_ns);
	if (r == -EOWNERDEAD) {
		recover(d);
		r = mp_lock_consistent(&d->lock);
	}
	return r;
}

void mp__dict_unlock(mp_dict_t *d)
{
	mp_lock_release(&d->lock);
}

/*
 * Look k up in the table.  Returns the slot holding it, or NULL with
 * *room the first slot a new key may take; *err a code (a key that could
 * not be compared) - then both are NULL.
 */
static struct dict_slot *find(mp_dict_t *d, const struct dict_key *k,
                         struct dict_slot **room, int *err)
{
	struct dict_table *t = table_of(d);
	uint64_t mask = t->cap - 1;
	struct dict_slot *tomb = NULL;

	*err = 0;
	*room = NULL;
	for (uint64_t i = k->h & mask;; i = (i + 1) & mask) {
		struct dict_slot *s = &t->s[i];
		int64_t o = atomic_load_explicit(&s->off, memory_order_relaxed);
		if (!o) {
			*room = tomb ? tomb : s;
			return NULL;
		}
		if (o == TOMB) {
			if (!tomb)
				tomb = s;
			continue;
		}
		if (atomic_load_explicit(&s->hash,
		                         memory_order_relaxed) != k->h)
			continue;
		int m = mp__dict_key_match(at(d, o), k);
		if (m < 0) {
			*err = m;
			return NULL;
		}
		if (m)
			return s;
	}
}

static inline struct dict_entry *entry_of(mp_dict_t *d,
                                         const struct dict_slot *s)
{
	return at(d, atomic_load_explicit(&((struct dict_slot *)s)->off,
	                                  memory_order_relaxed));
}

/* ---- changes under the lock ---------------------------------------------- */

/* d[k] = value, with the lock held. */
static int set_locked(mp_dict_t *d, const struct dict_key *k, const void *value,
                      size_t vlen)
{
	struct dict_slot *room;
	int err;
	struct dict_slot *s = find(d, k, &room, &err);
	if (err)
		return err;
	if (!s) {
		if ((err = make_room(d)) < 0)
			return err;
		find(d, k, &room, &err); /* the table may be a new one */
		if (err)
			return err;
	}
	struct dict_slot *w = s ? s : room;
	int64_t stale = s ? atomic_load_explicit(&s->off,
	                                         memory_order_relaxed) : 0;
	bool was_empty = !s && !atomic_load_explicit(&w->off,
	                                             memory_order_relaxed);
	begin(d, OP_SET, off_of(d, &w->off), stale);
	int64_t p;
	err = take_block(d, sizeof(struct dict_entry) + k->n + vlen, &p);
	if (err) {
		end(d);
		return err;
	}
	struct dict_entry *e = at(d, p);
	e->hash = k->h;
	/* A replaced value keeps its key's place in the order. */
	e->seq = s ? ((struct dict_entry *)at(d, stale))->seq : d->seq++;
	e->klen = (uint32_t)k->n;
	e->vlen = (uint32_t)vlen;
	e->pad = 0;
	if (k->n)
		memcpy(e->data, k->p, k->n);
	if (vlen)
		memcpy(e->data + k->n, value, vlen);
	STEP();
	if (!s)
		atomic_store_explicit(&w->hash, k->h, memory_order_relaxed);
	STEP();
	/* The commit.  Release: the entry's bytes before the slot names it. */
	atomic_store_explicit(&w->off, p, memory_order_release);
	STEP();
	drop(d, &d->in.stale, false);
	if (!s) {
		d->used += was_empty;
		atomic_fetch_add_explicit(&d->len, 1, memory_order_relaxed);
	}
	end(d);
	return 0;
}

/* del d[k] for the entry in slot s, with the lock held. */
static void delete_locked(mp_dict_t *d, struct dict_slot *s)
{
	begin(d, OP_DEL, off_of(d, &s->off),
	      atomic_load_explicit(&s->off, memory_order_relaxed));
	/* The commit. */
	atomic_store_explicit(&s->off, TOMB, memory_order_release);
	STEP();
	drop(d, &d->in.stale, false);
	atomic_fetch_sub_explicit(&d->len, 1, memory_order_relaxed);
	end(d);
}

/* ---- the API ------------------------------------------------------------- */

/* The header's common part; the caller adds the table and the magic. */
static int header_init(mp_dict_t *d, unsigned flags)
{
	memset(d, 0, sizeof(*d));
	d->flags = flags;
	uint64_t key[2];
	int r = mp_sys_getrandom(key, sizeof(key));
	if (r < 0)
		return r;
	d->k0 = key[0];
	d->k1 = key[1];
	return mp_lock_init(&d->lock);
}

mp_dict_t *mp_dict_init(void *mem, size_t size, unsigned flags, int *err)
{
	int e = -EINVAL;
	mp_dict_t *d = mem;

	if (mem && ((uintptr_t)mem & 63) == 0 && size >= MP_DICT_MIN_SIZE &&
	    (uint64_t)size < ((uint64_t)1 << 40) && !(flags & ~MP_DICT_PYKEYS))
		e = header_init(d, flags);
	if (e < 0) {
		if (err)
			*err = e;
		return NULL;
	}
	d->size = size;
	arena_reset(d);
	/* Release: the whole header before the magic makes it a dict. */
	__atomic_store_n(&d->magic, DICT_MAGIC, __ATOMIC_RELEASE);
	if (err)
		*err = 0;
	return d;
}

mp_dict_t *mp_dict_new(unsigned flags, int *err)
{
	int e = -EINVAL;
	mp_dict_t *d = NULL;
	void *t = NULL;

	if (!(flags & ~MP_DICT_PYKEYS) &&
	    (d = mp_heap_alloc(sizeof(*d), &e)) &&
	    (t = mp_heap_alloc(table_bytes(MIN_CAP), &e)))
		e = header_init(d, flags | F_HEAP);
	if (e < 0) {
		mp_heap_free(t);
		mp_heap_free(d);
		if (err)
			*err = e;
		return NULL;
	}
	table_init(d, off_of(d, t), MIN_CAP);
	atomic_store_explicit(&d->table, off_of(d, t), memory_order_relaxed);
	__atomic_store_n(&d->magic, DICT_MAGIC, __ATOMIC_RELEASE);
	if (err)
		*err = 0;
	return d;
}

/* Take the lock of a dict about to end: -EBUSY while somebody holds it. */
static int end_lock(mp_dict_t *d)
{
	int r = mp__dict_lock(d, 0);
	return r == -EAGAIN ? -EBUSY : r;
}

static int dict_end(mp_dict_t *d)
{
	d->magic = 0;
	mp__dict_unlock(d);
	return mp_lock_destroy(&d->lock);
}

int mp_dict_destroy(mp_dict_t *d)
{
	if (!dict_of(d) || in_heap(d))
		return -EINVAL;
	int r = end_lock(d);
	return r < 0 ? r : dict_end(d);
}

int mp_dict_free(mp_dict_t *d)
{
	if (!d)
		return 0;
	if (!dict_of(d) || !in_heap(d))
		return -EINVAL;
	int r = end_lock(d);
	if (r < 0)
		return r;
	struct dict_table *t = table_of(d);
	for (uint64_t i = 0; i < t->cap; i++) {
		int64_t o = atomic_load_explicit(&t->s[i].off,
		                                 memory_order_relaxed);
		if (o && o != TOMB)
			mp_heap_free(at(d, o));
	}
	mp_heap_free(t);
	dict_end(d);
	return mp_heap_free(d);
}

int mp_dict_set(mp_dict_t *d, const void *key, size_t klen,
                const void *value, size_t vlen, int64_t timeout_ns)
{
	struct dict_key k;
	if (!dict_of(d) || (!value && vlen) || vlen > MP_DICT_MAX_VALUE)
		return -EINVAL;
	int r = mp__dict_key_make(d, key, klen, &k);
	if (r < 0)
		return r;
	if ((r = mp__dict_lock(d, timeout_ns)) == 0) {
		r = set_locked(d, &k, value, vlen);
		mp__dict_unlock(d);
	}
	mp__dict_key_done(&k);
	return r;
}

/* get and pop: copy the value into buf, or a malloc'd *out. */
static int64_t fetch(mp_dict_t *d, const void *key, size_t klen, void *buf,
                     size_t cap, void **out, bool pop, int64_t timeout_ns)
{
	struct dict_key k;
	struct dict_slot *room;
	int err;

	if (!dict_of(d) || (!buf && cap))
		return -EINVAL;
	int64_t r = mp__dict_key_make(d, key, klen, &k);
	if (r < 0 || (r = mp__dict_lock(d, timeout_ns)) < 0) {
		mp__dict_key_done(&k);
		return r;
	}
	struct dict_slot *s = find(d, &k, &room, &err);
	if (!s) {
		r = err ? err : -ENOENT;
	} else {
		struct dict_entry *e = entry_of(d, s);
		const void *v = e->data + e->klen;
		r = e->vlen;
		if (out) {
			*out = malloc(e->vlen ? e->vlen : 1);
			if (!*out)
				r = -ENOMEM;
			else
				memcpy(*out, v, e->vlen);
		} else if (e->vlen > cap) {
			r = -MP_ETOOSHORT;
		} else if (e->vlen && buf) {
			/* buf is non-NULL here (cap >= vlen > 0), but gcc -O3
			 * inlines callers that pass NULL and 0 and cannot see
			 * it (-Wnonnull). */
			memcpy(buf, v, e->vlen);
		}
		if (r >= 0 && pop)
			delete_locked(d, s);
	}
	mp__dict_unlock(d);
	mp__dict_key_done(&k);
	return r;
}

int64_t mp_dict_get(mp_dict_t *d, const void *key, size_t klen, void *buf,
                    size_t cap, int64_t timeout_ns)
{
	return fetch(d, key, klen, buf, cap, NULL, false, timeout_ns);
}

int64_t mp_dict_pop(mp_dict_t *d, const void *key, size_t klen, void *buf,
                    size_t cap, int64_t timeout_ns)
{
	return fetch(d, key, klen, buf, cap, NULL, true, timeout_ns);
}

static int fetch_alloc(mp_dict_t *d, const void *key, size_t klen,
                       void **out, size_t *len, bool pop, int64_t timeout_ns)
{
	if (!out || !len)
		return -EINVAL;
	*out = NULL;
	int64_t r = fetch(d, key, klen, NULL, 0, out, pop, timeout_ns);
	if (r < 0)
		return (int)r;
	*len = (size_t)r;
	return 0;
}

int mp_dict_get_alloc(mp_dict_t *d, const void *key, size_t klen,
                      void **out, size_t *len, int64_t timeout_ns)
{
	return fetch_alloc(d, key, klen, out, len, false, timeout_ns);
}

int mp_dict_pop_alloc(mp_dict_t *d, const void *key, size_t klen,
                      void **out, size_t *len, int64_t timeout_ns)
{
	return fetch_alloc(d, key, klen, out, len, true, timeout_ns);
}

/* delete (del != 0) or contains, which share their steps. */
static int probe_op(mp_dict_t *d, const void *key, size_t klen, bool del,
                    int64_t timeout_ns)
{
	struct dict_key k;
	struct dict_slot *room;
	int err;

	if (!dict_of(d))
		return -EINVAL;
	int r = mp__dict_key_make(d, key, klen, &k);
	if (r < 0 || (r = mp__dict_lock(d, timeout_ns)) < 0) {
		mp__dict_key_done(&k);
		return r;
	}
	struct dict_slot *s = find(d, &k, &room, &err);
	if (err)
		r = err;
	else if (!del)
		r = s != NULL;
	else if (!s)
		r = -ENOENT;
	else
		delete_locked(d, s);
	mp__dict_unlock(d);
	mp__dict_key_done(&k);
	return r;
}

int mp_dict_delete(mp_dict_t *d, const void *key, size_t klen,
                   int64_t timeout_ns)
{
	return probe_op(d, key, klen, true, timeout_ns);
}

int mp_dict_contains(mp_dict_t *d, const void *key, size_t klen,
                     int64_t timeout_ns)
{
	return probe_op(d, key, klen, false, timeout_ns);
}

int64_t mp_dict_len(const mp_dict_t *d)
{
	if (!dict_of(d))
		return -EINVAL;
	return (int64_t)atomic_load_explicit(&((mp_dict_t *)d)->len,
	                                     memory_order_relaxed);
}

int mp_dict_clear(mp_dict_t *d, int64_t timeout_ns)
{
	if (!dict_of(d))
		return -EINVAL;
	int r = mp__dict_lock(d, timeout_ns);
	if (r < 0)
		return r;
	r = clear_locked(d);
	mp__dict_unlock(d);
	return r;
}

/* fn's decision on the value of k (slot s, NULL: absent), applied. */
static int update_locked(mp_dict_t *d, const struct dict_key *k,
                         struct dict_slot *s,
                         mp_dict_update_fn fn, void *arg)
{
	struct dict_entry *e = s ? entry_of(d, s) : NULL;
	const void *nv = NULL;
	size_t nl = 0;
	int r = fn(e ? e->data + e->klen : NULL, e ? e->vlen : 0, e != NULL,
	           &nv, &nl, arg);

	if (r == MP_DICT_STORE) {
		if ((!nv && nl) || nl > MP_DICT_MAX_VALUE)
			return -EINVAL;
		int w = set_locked(d, k, nv, nl);
		return w < 0 ? w : r;
	}
	if (r == MP_DICT_DELETE && s)
		delete_locked(d, s);
	else if (r > MP_DICT_DELETE)
		return -EINVAL;
	return r;
}

int mp_dict_update(mp_dict_t *d, const void *key, size_t klen,
                   mp_dict_update_fn fn, void *arg, int64_t timeout_ns)
{
	struct dict_key k;
	struct dict_slot *room;
	int err;

	if (!dict_of(d) || !fn)
		return -EINVAL;
	int r = mp__dict_key_make(d, key, klen, &k);
	if (r < 0 || (r = mp__dict_lock(d, timeout_ns)) < 0) {
		mp__dict_key_done(&k);
		return r;
	}
	struct dict_slot *s = find(d, &k, &room, &err);
	r = err ? err : update_locked(d, &k, s, fn, arg);
	mp__dict_unlock(d);
	mp__dict_key_done(&k);
	return r;
}

