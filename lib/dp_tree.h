/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dp_tree: an intrusive AVL tree ordered by a (key, key2) pair, for the address and
 * size indexes of the DART model and the coalescing mapper. Intrusive so that nodes
 * live inside the objects they index and inserting never allocates (the guest maps
 * from atomic context); AVL so every operation is O(log n) in the worst case.
 * Pairs must be unique within a tree. Address indexes leave key2 at 0; the size
 * index uses (size, start) so equal sizes stay distinct.
 */
#ifndef DP_TREE_H
#define DP_TREE_H

#include "dp_env.h"

struct dp_tree_node {
	struct dp_tree_node *left, *right, *parent;
	int height;
	uint64_t key, key2;
};

struct dp_tree {
	struct dp_tree_node *root;
	size_t count;
};

void dp_tree_insert(struct dp_tree *t, struct dp_tree_node *n);
void dp_tree_remove(struct dp_tree *t, struct dp_tree_node *n);
/* Greatest node <= (key, key2), or NULL. */
struct dp_tree_node *dp_tree_floor(const struct dp_tree *t, uint64_t key, uint64_t key2);
/* Least node >= (key, key2), or NULL. */
struct dp_tree_node *dp_tree_ceil(const struct dp_tree *t, uint64_t key, uint64_t key2);
/* The node after n, or NULL: iteration in order. */
struct dp_tree_node *dp_tree_next(const struct dp_tree *t, const struct dp_tree_node *n);
struct dp_tree_node *dp_tree_first(const struct dp_tree *t);

#define dp_tree_entry(ptr, type, member) dp_container_of(ptr, type, member)

#endif /* DP_TREE_H */
