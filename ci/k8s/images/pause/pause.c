/* pause: the process that holds a pod's namespaces open, like upstream's
 * registry.k8s.io/pause. It sleeps until SIGINT or SIGTERM and, as PID 1 of
 * the pod when the PID namespace is shared, reaps orphaned children.
 * Built with `gcc -static -Os`, shipped in an image FROM scratch. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
    puts("pause (kubegate) 3.10");
    return 0;
  }
  if (getpid() != 1)
    fprintf(stderr, "pause: warning: not running as PID 1\n");

  struct sigaction term = {.sa_handler = on_term};
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0) {
    perror("pause: sigaction");
    return 1;
  }
  for (;;)
    pause();
  return 42; /* unreachable */
}
