// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass image: `build` makes a bootable Debian disk image (qcow2) from Debian
 * packages only, with pvdma built by DKMS inside it; `path` prints where that image
 * is (or will be). The work is tools/image/build.sh (mmdebstrap, DKMS, systemd-boot,
 * a GPT disk made without loop devices); this command finds it, checks the options
 * and runs it. The image is cached under a hash of its inputs: a second build with
 * nothing changed returns at once.
 *
 * Exit status: 0 built or cached (the image's path on stdout), 1 the build failed,
 * 2 usage, 4 the build script could not be found or started.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dartpass.h"

static struct {
	const char *arch, *suite, *size, *out, *cache;
	bool force;
} icfg = { .suite = "trixie", .size = "8G" };

static const struct dp_opt opts[] = {
	{ "arch", DP_OPT_STR, &icfg.arch, "the image's architecture: amd64 or arm64 (x86_64 and"
	  " aarch64 are taken too; default: the host's); arm64 on another host runs under"
	  " qemu-user" },
	{ "suite", DP_OPT_STR, &icfg.suite, "the Debian suite (kernel, systemd, DKMS)" },
	{ "size", DP_OPT_STR, &icfg.size, "the disk's size (the root partition grows to fill"
	  " a disk enlarged later with qemu-img resize)" },
	{ "out", DP_OPT_STR, &icfg.out, "the qcow2 file (default: CACHE/dartpass-SUITE-ARCH-KEY"
	  ".qcow2, KEY a hash of the inputs)" },
	{ "cache", DP_OPT_STR, &icfg.cache, "where images and the build log go (default:"
	  " build/image in a checkout, else $XDG_CACHE_HOME/dartpass/image)" },
	{ "force", DP_OPT_BOOL, &icfg.force, "build even when the cached image is current" },
	{ NULL, 0, NULL, NULL },
};

static bool is_file(const char *p)
{
	struct stat st;

	return !stat(p, &st) && S_ISREG(st.st_mode);
}

/*
 * The build script: tools/image/build.sh of the checkout whose build/ holds this
 * binary, or PREFIX/share/dartpass/image/build.sh beside PREFIX/bin/dartpass. In a
 * checkout the default cache is its build/image.
 */
static int find_script(char *script, size_t size, char *cache, size_t csize)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return -1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	snprintf(script, size, "%s/../tools/image/build.sh", exe);
	if (is_file(script)) {
		snprintf(cache, csize, "%s/image", exe);
		return 0;
	}
	snprintf(script, size, "%s/../share/dartpass/image/build.sh", exe);
	if (is_file(script)) {
		const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");

		if (x && *x)
			snprintf(cache, csize, "%s/dartpass/image", x);
		else
			snprintf(cache, csize, "%s/.cache/dartpass/image", h && *h ? h : "/tmp");
		return 0;
	}
	return -1;
}

static int image(int argc, char **argv)
{
	static char script[PATH_MAX + 64], cache[PATH_MAX + 64];
	const char *arch = icfg.arch ? icfg.arch : dp_host_arch(), *av[16];
	char a_arch[64], a_suite[128], a_size[64], *a_out = NULL, *a_cache = NULL;
	uint64_t bytes;
	bool build;
	int n = 0;

	if (argc != 1 || (strcmp(argv[0], "build") && strcmp(argv[0], "path"))) {
		fprintf(stderr, "dartpass image: build or path, one of them\n");
		return 2;
	}
	build = !strcmp(argv[0], "build");
	if (!strcmp(arch, "x86_64"))
		arch = "amd64";
	else if (!strcmp(arch, "aarch64"))
		arch = "arm64";
	if (strcmp(arch, "amd64") && strcmp(arch, "arm64")) {
		fprintf(stderr, "dartpass image: --arch: amd64 or arm64, not %s\n", arch);
		return 2;
	}
	if (dp_parse_size(icfg.size, &bytes) || bytes < (2ull << 30)) {
		fprintf(stderr, "dartpass image: --size: a size of at least 2G (K, M or G), not %s\n",
			icfg.size);
		return 2;
	}
	if (!*icfg.suite || strspn(icfg.suite, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	    strlen(icfg.suite)) {
		fprintf(stderr, "dartpass image: --suite: a Debian suite name (trixie), not %s\n",
			icfg.suite);
		return 2;
	}
#ifndef __linux__
	fprintf(stderr, "dartpass image: building images needs Linux (mmdebstrap, chroot);"
		" build on a Linux machine and copy the qcow2\n");
	return 4;
#endif
	if (find_script(script, sizeof(script), cache, sizeof(cache))) {
		fprintf(stderr, "dartpass image: tools/image/build.sh not found beside this"
			" dartpass (a checkout's build/, or PREFIX/share/dartpass/image)\n");
		return 4;
	}
	snprintf(a_arch, sizeof(a_arch), "--arch=%s", arch);
	snprintf(a_suite, sizeof(a_suite), "--suite=%s", icfg.suite);
	/* As given (8G reads better in the build's progress); both parsers take K/M/G. */
	snprintf(a_size, sizeof(a_size), "--size=%s", icfg.size);
	if (asprintf(&a_cache, "--cache=%s", icfg.cache ? icfg.cache : cache) < 0 ||
	    (icfg.out && asprintf(&a_out, "--out=%s", icfg.out) < 0))
		return 1;
	av[n++] = "bash";
	av[n++] = script;
	av[n++] = a_arch;
	av[n++] = a_suite;
	av[n++] = a_size;
	av[n++] = a_cache;
	if (a_out)
		av[n++] = a_out;
	if (icfg.force && build)
		av[n++] = "--force";
	if (!build)
		av[n++] = "--print-path";
	av[n] = NULL;
	fflush(NULL);
	execvp("bash", (char **)av);
	fprintf(stderr, "dartpass image: cannot run bash %s: %s\n", script, strerror(errno));
	return 4;
}

int dp_image_default(const char *arch, bool build, char *path, size_t size)
{
	char *argv[] = { build ? "build" : "path", NULL }, *nl;
	size_t len = 0;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(fds))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (!pid) {
		/* The child becomes `dartpass image build|path --arch=ARCH`, defaults else. */
		close(fds[0]);
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(4);
		icfg.arch = arch;
		_exit(image(1, argv));
	}
	close(fds[1]);
	while (len + 1 < size && (n = read(fds[0], path + len, size - 1 - len)) > 0)
		len += n;
	close(fds[0]);
	path[len] = 0;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	/* The script prints the image's path as its last line. */
	while (len && path[len - 1] == '\n')
		path[--len] = 0;
	nl = strrchr(path, '\n');
	if (nl)
		memmove(path, nl + 1, strlen(nl + 1) + 1);
	return *path ? 0 : -1;
}

const struct dp_cmd dp_cmd_image = {
	.name = "image",
	.args = "build|path",
	.help = "build a bootable Debian image with pvdma built by DKMS inside it (qcow2, cached)",
	.opts = opts,
	.run = image,
};
