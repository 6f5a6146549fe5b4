// SPDX-License-Identifier: (GPL-2.0 OR MIT)
#include "dp_tree.h"

static int cmp(uint64_t k, uint64_t k2, const struct dp_tree_node *n)
{
	if (k != n->key)
		return k < n->key ? -1 : 1;
	if (k2 != n->key2)
		return k2 < n->key2 ? -1 : 1;
	return 0;
}

static int height(const struct dp_tree_node *n)
{
	return n ? n->height : 0;
}

static void update(struct dp_tree_node *n)
{
	int l = height(n->left), r = height(n->right);

	n->height = 1 + (l > r ? l : r);
}

/* Puts n where old was under parent (or at the root). */
static void replace(struct dp_tree *t, struct dp_tree_node *parent,
		    struct dp_tree_node *old, struct dp_tree_node *n)
{
	if (!parent)
		t->root = n;
	else if (parent->left == old)
		parent->left = n;
	else
		parent->right = n;
	if (n)
		n->parent = parent;
}

static struct dp_tree_node *rotate_right(struct dp_tree *t, struct dp_tree_node *n)
{
	struct dp_tree_node *l = n->left;

	replace(t, n->parent, n, l);
	n->left = l->right;
	if (n->left)
		n->left->parent = n;
	l->right = n;
	n->parent = l;
	update(n);
	update(l);
	return l;
}

static struct dp_tree_node *rotate_left(struct dp_tree *t, struct dp_tree_node *n)
{
	struct dp_tree_node *r = n->right;

	replace(t, n->parent, n, r);
	n->right = r->left;
	if (n->right)
		n->right->parent = n;
	r->left = n;
	n->parent = r;
	update(n);
	update(r);
	return r;
}

/* Restores the AVL invariant at n; returns the root of what was n's subtree. */
static struct dp_tree_node *rebalance(struct dp_tree *t, struct dp_tree_node *n)
{
	int bal;

	update(n);
	bal = height(n->left) - height(n->right);
	if (bal > 1) {
		if (height(n->left->left) < height(n->left->right))
			rotate_left(t, n->left);
		return rotate_right(t, n);
	}
	if (bal < -1) {
		if (height(n->right->right) < height(n->right->left))
			rotate_right(t, n->right);
		return rotate_left(t, n);
	}
	return n;
}

/*
 * Rebalances from n up to the root, stopping where a subtree's height comes out as
 * it was: nothing above can have changed, which keeps an update to O(1) amortized
 * writes instead of a rewrite of the whole path.
 */
static void fixup(struct dp_tree *t, struct dp_tree_node *n)
{
	while (n) {
		struct dp_tree_node *parent = n->parent;
		int old = n->height;

		if (rebalance(t, n)->height == old)
			return;
		n = parent;
	}
}

void dp_tree_insert(struct dp_tree *t, struct dp_tree_node *n)
{
	struct dp_tree_node *parent = NULL, **link = &t->root;

	while (*link) {
		parent = *link;
		link = cmp(n->key, n->key2, parent) < 0 ? &parent->left : &parent->right;
	}
	n->left = n->right = NULL;
	n->height = 1;
	n->parent = parent;
	*link = n;
	t->count++;
	fixup(t, parent);
}

void dp_tree_remove(struct dp_tree *t, struct dp_tree_node *n)
{
	struct dp_tree_node *from;

	DP_ASSERT(t->count > 0);
	if (n->left && n->right) {
		/* n's successor s (no left child) takes n's place. */
		struct dp_tree_node *s = n->right;

		while (s->left)
			s = s->left;
		if (s->parent != n) {
			from = s->parent;
			replace(t, from, s, s->right);
			s->right = n->right;
			s->right->parent = s;
		} else {
			from = s;
		}
		s->left = n->left;
		s->left->parent = s;
		s->height = n->height;
		replace(t, n->parent, n, s);
	} else {
		from = n->parent;
		replace(t, from, n, n->left ? n->left : n->right);
	}
	t->count--;
	fixup(t, from);
}

struct dp_tree_node *dp_tree_floor(const struct dp_tree *t, uint64_t key, uint64_t key2)
{
	struct dp_tree_node *n = t->root, *best = NULL;

	while (n) {
		int c = cmp(key, key2, n);

		if (c == 0)
			return n;
		if (c > 0) {
			best = n;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	return best;
}

struct dp_tree_node *dp_tree_ceil(const struct dp_tree *t, uint64_t key, uint64_t key2)
{
	struct dp_tree_node *n = t->root, *best = NULL;

	while (n) {
		int c = cmp(key, key2, n);

		if (c == 0)
			return n;
		if (c < 0) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

struct dp_tree_node *dp_tree_first(const struct dp_tree *t)
{
	return dp_tree_ceil(t, 0, 0);
}

struct dp_tree_node *dp_tree_next(const struct dp_tree *t, const struct dp_tree_node *n)
{
	if (n->key2 != UINT64_MAX)
		return dp_tree_ceil(t, n->key, n->key2 + 1);
	if (n->key != UINT64_MAX)
		return dp_tree_ceil(t, n->key + 1, 0);
	return NULL;
}
