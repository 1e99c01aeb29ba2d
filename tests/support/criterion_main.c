/* criterion_main.c - gives every test binary the same environment: it links
 * into test_support so that the library is never empty, and holds nothing
 * else (Criterion provides main). */
int test_support_linked = 1;
