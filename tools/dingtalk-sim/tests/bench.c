/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/tests/bench.c
 *    Measures user/list pages per second against a running simulator: each
 *    thread reuses one keep-alive connection and pages through a department.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

struct bench {
    const char *base;
    const char *token;
    const char *dept;
    double seconds;
    long done;
    long failed;
};

static size_t
sink(char *data, size_t size, size_t n, void *user)
{
    long *ok = user;

    /* The first chunk decides: only a body opening with errcode 0 counts. */
    if (*ok == 0)
        *ok = size * n >= 13 && memcmp(data, "{\"errcode\":0,", 13) == 0 ? 1 : -1;
    return size * n;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void *
worker(void *arg)
{
    struct bench *b = arg;
    CURL *curl = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char url[512], body[128];
    double end = now_s() + b->seconds;
    long cursor = 0, ok;

    snprintf(url, sizeof(url), "%s/topapi/v2/user/list?access_token=%s", b->base, b->token);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ok);
    while (now_s() < end) {
        snprintf(body, sizeof(body), "{\"dept_id\":%s,\"cursor\":%ld,\"size\":100}",
                 b->dept, cursor);
        curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, body);
        ok = 0;
        if (curl_easy_perform(curl) == CURLE_OK && ok == 1)
            __atomic_add_fetch(&b->done, 1, __ATOMIC_RELAXED);
        else
            __atomic_add_fetch(&b->failed, 1, __ATOMIC_RELAXED);
        cursor = (cursor + 100) % 1000;
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(curl);
    return NULL;
}

int
main(int argc, char **argv)
{
    struct bench b;
    pthread_t th[16];
    int threads, i;

    if (argc != 6) {
        fprintf(stderr, "usage: roster-dingtalk-sim-bench BASE_URL TOKEN DEPT_ID "
                        "THREADS SECONDS\n");
        return 2;
    }
    memset(&b, 0, sizeof(b));
    b.base = argv[1];
    b.token = argv[2];
    b.dept = argv[3];
    threads = atoi(argv[4]);
    b.seconds = atof(argv[5]);
    if (threads < 1 || threads > 16 || b.seconds <= 0) {
        fprintf(stderr, "roster-dingtalk-sim-bench: THREADS is 1..16, SECONDS > 0\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, worker, &b);
    for (i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    curl_global_cleanup();
    printf("requests=%ld failed=%ld seconds=%.1f rate=%.0f/s\n", b.done, b.failed,
           b.seconds, (double) b.done / b.seconds);
    return b.failed == 0 ? 0 : 1;
}
