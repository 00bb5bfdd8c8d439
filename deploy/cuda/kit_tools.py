#!/usr/bin/env python3
"""Helpers for deploy/cuda/fetch-debs.sh (run on the Debian 12 host that builds the kit).

  kit_tools.py stubs LIBDIR SONAME...   Writes stub libraries LIBDIR/SONAME for libraries pruned
                                        from the kit: they define every symbol the kit's
                                        libraries import and no kit or system library defines;
                                        each does nothing, returns 0 and says so on stderr
                                        (except the registration calls in QUIET_STUBS).
  kit_tools.py cstdint INCLUDEDIR SUBDIR...
                                        Adds #include <cstdint> to the C++ headers under the
                                        given subdirectories: Debian 12 built them with GCC 12,
                                        and GCC 13+ no longer includes <cstdint> transitively
                                        (abseil 20220623 and others then fail to compile).
  kit_tools.py check STAGE              Checks the unpacked kit: every NEEDED soname is in the
                                        kit or is glibc/libstdc++/libgcc, every undefined symbol
                                        is defined somewhere (OpenCV & co. are linked with
                                        BIND_NOW), each library loads (dlopen RTLD_NOW) and the
                                        kit's protoc + grpc_cpp_plugin + pkgconf run.
"""
import os
import re
import subprocess
import sys
import tempfile

ARCH = "x86_64-linux-gnu"
# Provided by the GPU machine's own glibc / GCC runtime: never shipped in the kit (the device's
# compiler needs its own, newer libstdc++).
SYSTEM = {
    "libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2",
    "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2", "libutil.so.1",
}
# Stubs OpenCV calls on every first imread/imwrite (codec registration): silent no-ops.
QUIET_STUBS = {"GDALAllRegister"}
# In the kit only so that prometheus-cpp's CMake targets file finds them; never linked (their
# civetweb / libcurl dependencies are not in the kit).
EXEMPT_PREFIXES = ("libprometheus-cpp-pull.so", "libprometheus-cpp-push.so")


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def needed(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", run("readelf", "-d", path))


def soname(path):
    m = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]", run("readelf", "-d", path))
    return m.group(1) if m else None


def nm_symbols(path, defined):
    """Dynamic symbols: defined ones, or undefined non-weak ones; versions stripped."""
    flag = "--defined-only" if defined else "--undefined-only"
    out = set()
    for line in run("nm", "-D", flag, path).splitlines():
        parts = line.split()
        if not parts:
            continue
        kind, name = parts[-2], parts[-1]
        if not defined and kind != "U":  # w/v: weak, may stay undefined
            continue
        out.add(name.split("@")[0])
    return out


def system_lib(name):
    for d in ("/lib/" + ARCH, "/usr/lib/" + ARCH, "/lib64"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return os.path.realpath(p)
    raise SystemExit("kit_tools: system library %s not found on this host" % name)


def system_defined():
    out = set()
    for name in sorted(SYSTEM):
        out |= nm_symbols(system_lib(name), defined=True)
    return out


def kit_libraries(libdir, skip=()):
    """Real ELF shared libraries in libdir (not symlinks), minus `skip` sonames."""
    libs = []
    for name in sorted(os.listdir(libdir)):
        p = os.path.join(libdir, name)
        if os.path.islink(p) or not os.path.isfile(p) or ".so" not in name or not is_elf(p):
            continue
        if soname(p) in skip or name in skip:
            continue
        libs.append(p)
    return libs


def exempt(path):
    return os.path.basename(path).startswith(EXEMPT_PREFIXES)


def cmd_stubs(libdir, stub_sonames):
    stub_sonames = list(stub_sonames)
    providers = [p for p in kit_libraries(libdir, skip=stub_sonames) if not exempt(p)]
    defined = system_defined()
    for p in providers:
        defined |= nm_symbols(p, defined=True)
    # Which stub each missing symbol goes to: the real library's, when this host has it (it
    # does on a machine with libopencv-imgcodecs406 installed), else the consumer's first stub.
    real = {}
    for s in stub_sonames:
        try:
            real[s] = nm_symbols(system_lib(s), defined=True)
        except SystemExit:
            real[s] = set()
    per_stub = {s: set() for s in stub_sonames}
    for p in providers:
        wanted = [s for s in needed(p) if s in per_stub]
        if not wanted:
            continue
        missing = nm_symbols(p, defined=False) - defined
        for sym in sorted(missing):
            owner = next((s for s in wanted if sym in real[s]), wanted[0])
            per_stub[owner].add(sym)
        print("kit_tools: %s imports %d symbols from %s" %
              (os.path.basename(p), len(missing), ", ".join(wanted)))
    with tempfile.TemporaryDirectory() as tmp:
        for s, syms in per_stub.items():
            src = os.path.join(tmp, "stub.c")
            with open(src, "w") as f:
                f.write("#include <stdio.h>\n#include <string.h>\n")
                f.write("static const char* const kQuiet[] = {%s NULL};\n" % "".join(
                    '"%s", ' % q for q in sorted(QUIET_STUBS)))
                f.write("static long fringe_stub(const char* name) {\n"
                        "  for (const char* const* q = kQuiet; *q; ++q) {\n"
                        "    if (strcmp(*q, name) == 0) return 0;\n"
                        "  }\n"
                        "  fprintf(stderr, \"fringe CUDA kit: %%s called, but %%s was pruned from "
                        "the kit (deploy/cuda/fetch-debs.sh); the stub does nothing and returns "
                        "0\\n\", name, \"%s\");\n"
                        "  return 0;\n}\n" % s)
                for i, sym in enumerate(sorted(syms)):
                    f.write('long s%d(void) __asm__("%s");\nlong s%d(void) { return fringe_stub("%s"); }\n'
                            % (i, sym, i, sym))
            out = os.path.join(libdir, s)
            subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-Wl,-soname," + s, "-o", out, src],
                           check=True)
            print("kit_tools: stub %s (%d symbols)" % (s, len(syms)))


CSTDINT_LINE = "#include <cstdint>  // fringe CUDA kit: GCC 13+ no longer pulls it in\n"


def cmd_cstdint(includedir, subdirs):
    patched = 0
    for sub in subdirs:
        root = os.path.join(includedir, sub)
        if not os.path.isdir(root):
            raise SystemExit("kit_tools: %s is not a directory" % root)
        for dirpath, _, files in os.walk(root):
            for name in files:
                ext = os.path.splitext(name)[1]
                # pqxx's headers have no extension (pqxx/pqxx, pqxx/connection).
                if ext not in (".h", ".hpp", ".hxx", "") or (ext == "" and sub != "pqxx"):
                    continue
                p = os.path.join(dirpath, name)
                with open(p, encoding="utf-8", errors="surrogateescape") as f:
                    text = f.read()
                if text.startswith(CSTDINT_LINE) or "<cstdint>" in text:
                    continue
                with open(p, "w", encoding="utf-8", errors="surrogateescape") as f:
                    f.write(CSTDINT_LINE + text)
                patched += 1
    print("kit_tools: #include <cstdint> added to %d headers" % patched)


def cmd_check(stage):
    libdir = os.path.join(stage, "usr/lib", ARCH)
    bindir = os.path.join(stage, "usr/bin")
    names = set(os.listdir(libdir))
    elves = []
    for base in (libdir, bindir):
        for name in sorted(os.listdir(base)):
            p = os.path.join(base, name)
            if os.path.isfile(p) and not os.path.islink(p) and is_elf(p):
                elves.append(p)
    problems = []
    defined = system_defined()
    libs = [p for p in elves if p.startswith(libdir) and not exempt(p)]
    for p in libs:
        defined |= nm_symbols(p, defined=True)
    for p in elves:
        if exempt(p):
            continue
        for n in needed(p):
            if n not in SYSTEM and n not in names:
                problems.append("%s needs %s, which is not in the kit" % (p, n))
            elif n in names and not os.path.exists(os.path.join(libdir, n)):
                problems.append("%s: %s is a dangling link" % (p, n))
        missing = nm_symbols(p, defined=False) - defined
        if missing:
            problems.append("%s: %d undefined symbols nobody defines, e.g. %s" %
                            (p, len(missing), sorted(missing)[:3]))
        rp = re.search(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.*)\]",
                       run("readelf", "-d", p))
        if not rp or "$ORIGIN" not in rp.group(1):
            problems.append("%s has no $ORIGIN RUNPATH" % p)
    for p in libs:
        r = subprocess.run([sys.executable, "-c",
                            "import ctypes, os, sys; ctypes.CDLL(sys.argv[1], mode=os.RTLD_NOW)",
                            p], capture_output=True, text=True)
        if r.returncode != 0:
            problems.append("dlopen(%s) failed: %s" % (p, r.stderr.strip().splitlines()[-1:]))
    # The code generators, as the build runs them.
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "t.proto"), "w") as f:
            f.write('syntax = "proto3";\npackage t;\nmessage M { string s = 1; }\n'
                    "service S { rpc Call(M) returns (M); }\n")
        r = subprocess.run([os.path.join(bindir, "protoc"), "-I", tmp, "--cpp_out", tmp,
                            "--grpc_out", tmp,
                            "--plugin=protoc-gen-grpc=" + os.path.join(bindir, "grpc_cpp_plugin"),
                            os.path.join(tmp, "t.proto")], capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(os.path.join(tmp, "t.grpc.pb.cc")):
            problems.append("protoc + grpc_cpp_plugin failed: " + r.stderr)
        # OpenCV's codec table is built on the first imread/imwrite: it must not reach a stub.
        prog = os.path.join(tmp, "cv.cc")
        with open(prog, "w") as f:
            f.write("#include <opencv2/imgcodecs.hpp>\n#include <cstdio>\n"
                    "int main(int, char** argv) {\n"
                    "  cv::Mat m(64, 48, CV_16U, cv::Scalar(1234));\n"
                    "  for (const char* ext : {\".png\", \".tif\", \".jpg\", \".webp\"}) {\n"
                    "    const std::string p = std::string(argv[1]) + \"/t\" + ext;\n"
                    "    cv::Mat w; m.convertTo(w, ext[1] == 'j' || ext[1] == 'w' ? CV_8U : CV_16U,"
                    " ext[1] == 'j' || ext[1] == 'w' ? 1.0 / 256 : 1.0);\n"
                    "    if (!cv::imwrite(p, w)) return 1;\n"
                    "    cv::Mat r = cv::imread(p, cv::IMREAD_UNCHANGED);\n"
                    "    if (r.size() != m.size()) return 2;\n"
                    "  }\n  std::puts(\"ok\");\n  return 0;\n}\n")
        exe = os.path.join(tmp, "cv")
        inc = os.path.join(stage, "usr/include/opencv4")
        r = subprocess.run(["g++", "-std=c++17", "-isystem", inc, prog, "-o", exe, "-L" + libdir,
                            "-lopencv_imgcodecs", "-lopencv_core", "-Wl,-rpath," + libdir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            problems.append("cannot build the OpenCV check: " + r.stderr[-2000:])
        else:
            r = subprocess.run([exe, tmp], capture_output=True, text=True)
            if r.returncode != 0 or "fringe CUDA kit" in r.stderr:
                problems.append("OpenCV imwrite/imread with the kit's libraries failed (%d): %s"
                                % (r.returncode, r.stderr.strip()[-500:]))
    r = subprocess.run([os.path.join(bindir, "pkgconf"), "--version"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        problems.append("pkgconf does not run: " + r.stderr)
    for p in problems:
        print("kit_tools: PROBLEM: " + p, file=sys.stderr)
    if problems:
        raise SystemExit("kit_tools: %d problems" % len(problems))
    print("kit_tools: %d ELF files, %d libraries: sonames, symbols, dlopen, protoc, OpenCV "
          "codecs, pkgconf OK"
          % (len(elves), len(libs)))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "stubs":
        cmd_stubs(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) >= 4 and sys.argv[1] == "cstdint":
        cmd_cstdint(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        cmd_check(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
