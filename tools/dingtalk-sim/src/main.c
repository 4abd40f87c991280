/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/dingtalk-sim/src/main.c
 *    roster-dingtalk-sim: "serve" a fixture as DingTalk's open API, or
 *    "generate" a fixture.
 */
#include "sim_int.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "roster/log.h"

static const char usage[] =
    "usage: roster-dingtalk-sim serve --fixture FILE --addr HOST:PORT\n"
    "           [--token-ttl SECONDS] [--rate-limit N] [--latency-ms N]\n"
    "           [--ip-limit N] [--deny-api PATH]... [--log-level LEVEL]\n"
    "       roster-dingtalk-sim generate --users N --seed S [--corp CORPID]\n"
    "           [--out FILE] [--second FILE] [--shared N]\n"
    "\n"
    "serve: --token-ttl sets the access token lifetime in seconds (7200);\n"
    "  --rate-limit the calls per second per API before errcode 90018\n"
    "  (20, 0 = off); --latency-ms a delay added to every API call (0);\n"
    "  --ip-limit the calls per 20 s per client address before a 5-minute\n"
    "  ban (10000, 0 = off); --deny-api makes an API path such as\n"
    "  topapi/v2/user/list return errcode 60011 (missing permission).\n"
    "  Port 0 picks a free port, logged at start.\n";

static bool
parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

struct serve_opts {
    const char *fixture;
    const char *addr;
    long token_ttl;
    long rate_limit;
    long latency_ms;
    long ip_limit;
    const char *log_level;
    json_t *denied;     /* API path -> true, owned */
};

static int
parse_serve(int argc, char **argv, struct serve_opts *o)
{
    int i;

    o->token_ttl = 7200;
    o->rate_limit = 20;
    o->latency_ms = 0;
    o->ip_limit = 10000;
    for (i = 0; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = val != NULL;

        if (ok && strcmp(opt, "--fixture") == 0)
            o->fixture = val;
        else if (ok && strcmp(opt, "--addr") == 0)
            o->addr = val;
        else if (ok && strcmp(opt, "--log-level") == 0)
            o->log_level = val;
        else if (ok && strcmp(opt, "--deny-api") == 0)
            json_object_set_new(o->denied, val, json_true());
        else if (ok && strcmp(opt, "--token-ttl") == 0)
            ok = parse_long(val, 1, INT_MAX, &o->token_ttl);
        else if (ok && strcmp(opt, "--rate-limit") == 0)
            ok = parse_long(val, 0, INT_MAX, &o->rate_limit);
        else if (ok && strcmp(opt, "--latency-ms") == 0)
            ok = parse_long(val, 0, 600000, &o->latency_ms);
        else if (ok && strcmp(opt, "--ip-limit") == 0)
            ok = parse_long(val, 0, LONG_MAX, &o->ip_limit);
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "roster-dingtalk-sim: invalid option \"%s\"%s%s%s\n%s",
                    opt, val != NULL ? " with value \"" : "",
                    val != NULL ? val : "", val != NULL ? "\"" : "", usage);
            return 2;
        }
        i++;
    }
    if (o->fixture == NULL || o->addr == NULL) {
        fprintf(stderr, "roster-dingtalk-sim: serve needs --fixture and --addr\n%s", usage);
        return 2;
    }
    return 0;
}

static int
serve_main(int argc, char **argv)
{
    struct serve_opts o;
    struct sim_server srv;
    struct sim_org *org = NULL;
    struct MHD_Daemon *daemon = NULL;
    struct rs_error err;
    enum rs_log_level level = RS_LOG_INFO;
    char host[64];
    char port_text[16];
    char corp_id[128];
    const char *colon;
    long port;
    int bound = 0;
    int sig;
    sigset_t set;

    memset(&o, 0, sizeof(o));
    o.denied = json_object();
    if (o.denied == NULL || parse_serve(argc, argv, &o) != 0) {
        json_decref(o.denied);
        return 2;
    }
    if (o.log_level != NULL && rs_log_level_parse(o.log_level, &level) != RS_OK) {
        fprintf(stderr, "roster-dingtalk-sim: invalid log level \"%s\"\n", o.log_level);
        json_decref(o.denied);
        return 2;
    }
    rs_log_init("dingtalk-sim", level);
    colon = strrchr(o.addr, ':');
    if (colon == NULL || (size_t) (colon - o.addr) >= sizeof(host)
        || !parse_long(colon + 1, 0, 65535, &port)) {
        fprintf(stderr, "roster-dingtalk-sim: invalid --addr \"%s\": expected HOST:PORT\n",
                o.addr);
        json_decref(o.denied);
        return 2;
    }
    memcpy(host, o.addr, (size_t) (colon - o.addr));
    host[colon - o.addr] = '\0';

    rs_error_clear(&err);
    if (sim_org_load(o.fixture, &org, &err) != RS_OK) {
        rs_log_error(NULL, "could not load fixture", "detail", err.message, NULL);
        json_decref(o.denied);
        return 1;
    }
    /* Copied now: once serving, a control request may replace the org. */
    snprintf(corp_id, sizeof(corp_id), "%s", org->corp_id);
    sim_server_init(&srv, org);
    srv.cfg.token_ttl_s = (int) o.token_ttl;
    srv.cfg.rate_limit = (int) o.rate_limit;
    srv.cfg.latency_ms = (int) o.latency_ms;
    srv.cfg.ip_limit = o.ip_limit;
    json_decref(srv.cfg.denied_apis);
    srv.cfg.denied_apis = o.denied;

    /* Block the stop signals before MHD starts threads, so they inherit it. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sim_server_start(&srv, host, (int) port, &daemon, &bound, &err) != RS_OK) {
        rs_log_error(NULL, "could not start server", "detail", err.message, NULL);
        sim_server_cleanup(&srv);
        return 1;
    }
    snprintf(port_text, sizeof(port_text), "%d", bound);
    rs_log_info(NULL, "listening", "host", host, "port", port_text,
                "corp_id", corp_id, NULL);
    while (sigwait(&set, &sig) != 0)
        ;
    rs_log_info(NULL, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    MHD_stop_daemon(daemon);
    sim_server_cleanup(&srv);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve_main(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "generate") == 0)
        return sim_generate_main(argc - 2, argv + 2);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    fputs(usage, stderr);
    return 2;
}
