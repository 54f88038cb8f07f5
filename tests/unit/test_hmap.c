/* test_hmap.c: the intrusive hash map and list. */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "lib/hmap.h"
#include "lib/list.h"

struct item {
	struct hmap_node node;
	struct list link;
	char key[32];
	int value;
};

static void test_insert_find_remove(void **state)
{
	enum { N = 20000 };
	struct item *items = xcalloc(N, sizeof(*items));
	struct hmap m;
	size_t i;

	(void)state;
	hmap_init(&m);
	for (i = 0; i < N; i++) {
		snprintf(items[i].key, sizeof(items[i].key), "task-%zu", i);
		items[i].value = (int)i;
		items[i].node.key = items[i].key;
		hmap_insert(&m, &items[i].node);
	}
	assert_int_equal(m.count, N);
	assert_true(m.nbuckets >= N);
	for (i = 0; i < N; i += 7) {
		char k[32];
		snprintf(k, sizeof(k), "task-%zu", i);
		struct item *it =
		    hmap_entry(hmap_find(&m, k), struct item, node);
		assert_non_null(it);
		assert_int_equal(it->value, (int)i);
	}
	assert_null(hmap_find(&m, "task-x"));
	assert_null(hmap_find(&m, NULL));
	/* remove every other one while iterating */
	struct hmap_node *n, *tmp;
	size_t b, seen = 0;
	HMAP_FOR_EACH_SAFE(&m, b, n, tmp)
	{
		struct item *it = container_of(n, struct item, node);
		seen++;
		if (it->value % 2)
			hmap_remove(&m, n);
	}
	assert_int_equal(seen, N);
	assert_int_equal(m.count, N / 2);
	assert_null(hmap_find(&m, "task-1"));
	assert_non_null(hmap_find(&m, "task-2"));
	hmap_release(&m);
	free(items);
}

static void test_empty_map(void **state)
{
	struct hmap m;
	struct hmap_node *n, *tmp;
	size_t b, seen = 0;

	(void)state;
	hmap_init(&m);
	assert_null(hmap_find(&m, "a"));
	HMAP_FOR_EACH_SAFE(&m, b, n, tmp)
	seen++;
	assert_int_equal(seen, 0);
	hmap_release(&m);
}

static void test_list(void **state)
{
	struct item a = {.value = 1}, b2 = {.value = 2}, c = {.value = 3};
	struct list head, *pos, *tmp;
	int sum = 0, order = 0;

	(void)state;
	list_init(&head);
	assert_true(list_empty(&head));
	list_add_tail(&head, &a.link);
	list_add_tail(&head, &b2.link);
	list_add_tail(&head, &c.link);
	assert_ptr_equal(list_first(&head, struct item, link), &a);
	LIST_FOR_EACH_SAFE(pos, tmp, &head)
	{
		struct item *it = list_entry(pos, struct item, link);
		order = order * 10 + it->value;
		if (it->value == 2)
			list_del(pos);
	}
	assert_int_equal(order, 123);
	LIST_FOR_EACH_SAFE(pos, tmp, &head)
	sum += list_entry(pos, struct item, link)->value;
	assert_int_equal(sum, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_insert_find_remove),
	    cmocka_unit_test(test_empty_map),
	    cmocka_unit_test(test_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
