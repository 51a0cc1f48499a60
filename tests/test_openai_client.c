/* The official OpenAI Node.js client (the `openai` npm package, pinned in
 * tests/openai_client/package.json) against `entroscope serve`, unchanged:
 * models, completions and chat completions, whole and streamed, an error and
 * a wrong key, as tests/openai_client/check.mjs checks them. The server runs
 * as a user runs it (the binary, on a free port, with --api-key); the test
 * skips with a message when node or the package is not installed
 * (`npm ci --prefix tests/openai_client` installs it; `make deps` does when npm
 * is present). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "test.h"

#define CHECK_SCRIPT "tests/openai_client/check.mjs"
#define CLIENT_PACKAGE "tests/openai_client/node_modules/openai/package.json"

static int have_node(void) { return system("node --version > /dev/null 2>&1") == 0; }

/* Starts `entroscope serve` on a free port; returns its pid and the port (read
 * from its "listening on http://127.0.0.1:PORT" line), or -1. */
static pid_t start_server(const char *model, const char *key, int *port, FILE **log) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execl(cli_binary(), cli_binary(), "serve", "-m", model, "--port", "0", "--api-key", key, "-c", "256",
              "-t", "1", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    *log = fdopen(fds[0], "r");
    char line[512];
    *port = 0;
    while (*log && fgets(line, sizeof line, *log)) {
        const char *at = strstr(line, "listening on http://127.0.0.1:");
        if (at && sscanf(at + strlen("listening on http://127.0.0.1:"), "%d", port) == 1) break;
    }
    return *port > 0 ? pid : -1;
}

void suite_openai_client(void) {
    TEST("openai client: the official Node.js package talks to entroscope serve unchanged") {
        if (!have_node()) {
            test_skip("no node on PATH");
            continue;
        }
        if (access(CHECK_SCRIPT, R_OK) != 0 || access(CLIENT_PACKAGE, R_OK) != 0) {
            test_skip("the openai npm package is not installed (npm ci --prefix tests/openai_client)");
            continue;
        }
        char model[512];
        snprintf(model, sizeof model, "%s/openai_tiny.gguf", test_tmpdir());
        run_result r;
        const char *synth[] = {"synth", "--preset", "tiny", "--seed", "5", "-o", model, NULL};
        cli_run(&r, synth);
        CHECKF(r.status == 0, "%s", r.err);
        int port;
        FILE *log = NULL;
        pid_t pid = start_server(model, "test-key", &port, &log);
        CHECKF(pid > 0, "the server did not start");
        if (pid > 0) {
            char cmd[1024], out[8192] = "";
            snprintf(cmd, sizeof cmd, "node " CHECK_SCRIPT " http://127.0.0.1:%d/v1 test-key 2>&1", port);
            FILE *p = popen(cmd, "r");
            size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
            out[n] = '\0';
            int status = p ? pclose(p) : -1;
            CHECKF(status == 0, "check.mjs failed:\n%s", out);
            /* every check ran and passed */
            const char *names[] = {"ok models.list\n", "ok completions.create\n", "ok completions.create stream\n",
                                   "ok chat.completions.create\n", "ok chat.completions.create stream\n",
                                   "ok bad request is an APIError 400\n", "ok wrong key is an AuthenticationError\n"};
            for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                CHECKF(strstr(out, names[i]) != NULL, "missing \"%s\" in:\n%s", names[i], out);
            kill(pid, SIGTERM);
            int ws = 0;
            waitpid(pid, &ws, 0);
            CHECKF(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the server did not stop cleanly on SIGTERM");
        }
        if (log) fclose(log);
    }
}
