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

static struct dp_tree_node *rotate_right(struct dp_tree_node *n)
{
	struct dp_tree_node *l = n->left;

	n->left = l->right;
	l->right = n;
	update(n);
	update(l);
	return l;
}

static struct dp_tree_node *rotate_left(struct dp_tree_node *n)
{
	struct dp_tree_node *r = n->right;

	n->right = r->left;
	r->left = n;
	update(n);
	update(r);
	return r;
}

static struct dp_tree_node *rebalance(struct dp_tree_node *n)
{
	int bal;

	update(n);
	bal = height(n->left) - height(n->right);
	if (bal > 1) {
		if (height(n->left->left) < height(n->left->right))
			n->left = rotate_left(n->left);
		return rotate_right(n);
	}
	if (bal < -1) {
		if (height(n->right->right) < height(n->right->left))
			n->right = rotate_right(n->right);
		return rotate_left(n);
	}
	return n;
}

static struct dp_tree_node *insert(struct dp_tree_node *root, struct dp_tree_node *n)
{
	if (!root)
		return n;
	if (cmp(n->key, n->key2, root) < 0)
		root->left = insert(root->left, n);
	else
		root->right = insert(root->right, n);
	return rebalance(root);
}

void dp_tree_insert(struct dp_tree *t, struct dp_tree_node *n)
{
	n->left = n->right = NULL;
	n->height = 1;
	t->root = insert(t->root, n);
	t->count++;
}

/* Detaches the minimum of a subtree into *min and returns the rebalanced rest. */
static struct dp_tree_node *take_min(struct dp_tree_node *root, struct dp_tree_node **min)
{
	if (!root->left) {
		*min = root;
		return root->right;
	}
	root->left = take_min(root->left, min);
	return rebalance(root);
}

static struct dp_tree_node *remove_node(struct dp_tree_node *root, struct dp_tree_node *n)
{
	struct dp_tree_node *succ;
	int c;

	if (!root)
		return NULL;
	c = cmp(n->key, n->key2, root);
	if (c < 0) {
		root->left = remove_node(root->left, n);
	} else if (c > 0) {
		root->right = remove_node(root->right, n);
	} else {
		if (!root->right)
			return root->left;
		root->right = take_min(root->right, &succ);
		succ->left = root->left;
		succ->right = root->right;
		root = succ;
	}
	return rebalance(root);
}

void dp_tree_remove(struct dp_tree *t, struct dp_tree_node *n)
{
	DP_ASSERT(t->count > 0);
	t->root = remove_node(t->root, n);
	t->count--;
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
