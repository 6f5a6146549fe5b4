// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/* dp_tree against a reference bitmap under random inserts and removes. */
#include "../../lib/dp_tree.h"
#include "dp_test.h"

#define KEYS 4096

struct item {
	struct dp_tree_node node;
	int in;
};

static int depth(const struct dp_tree_node *n)
{
	int l, r;

	if (!n)
		return 0;
	if ((n->left && n->left->parent != n) || (n->right && n->right->parent != n))
		return -1;
	l = depth(n->left);
	r = depth(n->right);
	if (l < 0 || r < 0 || l - r > 1 || r - l > 1 || n->height != 1 + (l > r ? l : r))
		return -1;
	return 1 + (l > r ? l : r);
}

int main(void)
{
	static struct item items[KEYS];
	struct dp_tree t = { 0 };
	unsigned long long seed = 0x9e3779b97f4a7c15ull;
	int i, step, bad_floor = 0, bad_ceil = 0, bad_iter = 0, balanced = 1;
	size_t live = 0;

	for (step = 0; step < 200000; step++) {
		int k = dp_test_rand(&seed) % KEYS;

		if (items[k].in) {
			dp_tree_remove(&t, &items[k].node);
			items[k].in = 0;
			live--;
		} else {
			items[k].node.key = (uint64_t)k * 16;
			items[k].node.key2 = 0;
			dp_tree_insert(&t, &items[k].node);
			items[k].in = 1;
			live++;
		}
		if (step % 1000 == 0) {
			uint64_t q = dp_test_rand(&seed) % (KEYS * 16 + 32);
			struct dp_tree_node *f = dp_tree_floor(&t, q, 0);
			struct dp_tree_node *c = dp_tree_ceil(&t, q, 0);
			int j, want_f = -1, want_c = -1;

			for (j = 0; j < KEYS; j++) {
				if (items[j].in && (uint64_t)j * 16 <= q)
					want_f = j;
				if (items[j].in && (uint64_t)j * 16 >= q && want_c < 0)
					want_c = j;
			}
			bad_floor += want_f < 0 ? f != NULL : f != &items[want_f].node;
			bad_ceil += want_c < 0 ? c != NULL : c != &items[want_c].node;
			if (depth(t.root) < 0 || (t.root && t.root->parent))
				balanced = 0;
		}
	}
	DP_CHECK(t.count == live, "count tracks inserts and removes (%zu)", live);
	DP_CHECK(bad_floor == 0, "floor matches the reference (%d mismatches)", bad_floor);
	DP_CHECK(bad_ceil == 0, "ceil matches the reference (%d mismatches)", bad_ceil);
	DP_CHECK(balanced, "AVL invariant holds throughout");
	{
		struct dp_tree_node *n;
		uint64_t prev = 0;
		size_t seen = 0;

		for (n = dp_tree_first(&t); n; n = dp_tree_next(&t, n)) {
			if (seen && n->key <= prev)
				bad_iter++;
			prev = n->key;
			seen++;
		}
		DP_CHECK(!bad_iter && seen == live, "iteration is ordered and complete");
	}
	/* A degenerate order must stay logarithmic. */
	{
		struct dp_tree s = { 0 };

		for (i = 0; i < KEYS; i++) {
			items[i].node.key = i;
			dp_tree_insert(&s, &items[i].node);
		}
		DP_CHECK(depth(s.root) > 0 && depth(s.root) <= 13,
			 "sorted inserts give depth %d <= 1.44 log2(n)", depth(s.root));
	}
	return dp_test_done();
}
