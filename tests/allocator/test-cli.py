#!/usr/bin/python3
"""`kvmtune rewrite`, `explain` and `simulate` as a user runs them: output,
exit codes (0 ok, 1 bad input or usage, 3 no capacity), --domains ledger,
--help.  Prints TAP."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get('KT_SOURCE_ROOT', '.')
BUILD = os.environ.get('KT_BUILD_ROOT', 'build')
KVMTUNE = os.path.join(BUILD, 'nova-helper', 'kvmtune')
REF = os.path.join(SRC, 'tests', 'fixtures', 'hosts', 'reference')
POLICY = os.path.join(SRC, 'nova-helper', 'policy.example.yaml')
GOLDEN = os.path.join(SRC, 'tests', 'golden')

results = []


def check(name, cond, detail=''):
    results.append((name, bool(cond), detail))


def kt(*args, stdin=None):
    return subprocess.run([KVMTUNE] + list(args), input=stdin, capture_output=True)


def case(name, f='input.xml'):
    return os.path.join(GOLDEN, name, f)


def main():
    if not os.access(KVMTUNE, os.X_OK) or not os.path.isdir(REF):
        print('1..0 # SKIP kvmtune or the reference fixture is missing')
        return 77
    base = ['--policy', POLICY, '--sysroot', REF]

    # the case's own policy: the golden output records that file's hash
    r = kt('rewrite', '--policy', case('engine-db-dedicated-ref', 'policy.yaml'),
           '--sysroot', REF, case('engine-db-dedicated-ref'))
    with open(case('engine-db-dedicated-ref', 'expected.xml'), 'rb') as f:
        check('rewrite prints the golden output', r.returncode == 0 and r.stdout == f.read(),
              r.stderr)

    with open(case('engine-no-match-ref'), 'rb') as f:
        data = f.read()
    r = kt('rewrite', *base, '-', stdin=data)
    check('no match: stdin bytes unchanged', r.returncode == 0 and r.stdout == data, r.stderr)

    r = kt('rewrite', *base, case('engine-db-too-big-ref_FAIL'))
    check('refusal exits 3 naming the resource',
          r.returncode == 3 and b'isolated cores on one node; free: node0' in r.stderr, r.stderr)

    r = kt('rewrite', '--policy', '/nonexistent/policy.yaml', '--sysroot', REF,
           case('engine-db-dedicated-ref'))
    check('missing policy exits 1', r.returncode == 1 and b'policy.yaml' in r.stderr, r.stderr)

    r = kt('rewrite', *base, '--frobnicate')
    check('unknown option exits 1', r.returncode == 1, r.stderr)

    r = kt('rewrite', *base, stdin=b'<domain><name>x</name')
    check('malformed XML exits 1', r.returncode == 1 and r.stderr, r.stderr)

    r = kt('explain', *base, case('engine-db-dedicated-ref'))
    out = r.stdout.decode()
    check('explain names the rule, profile and reasons',
          r.returncode == 0 and 'rule: ' in out and 'profile db-dedicated' in out
          and 'isolate' in out and 'sriov: VF' in out and 'dry run' in out, out)

    # --domains: the first VM's booking is learnt from its XML, so a second
    # one lands elsewhere; the same XML again reuses its own booking.
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(case('engine-db-dedicated-ref', 'expected.xml'), os.path.join(d, 'a.xml'))
        with open(case('engine-db-dedicated-ref')) as f:
            other = f.read().replace('000000000001', '0000000000ff')
        r = kt('rewrite', *base, '--domains', d, '-', stdin=other.encode())
        first = open(case('engine-db-dedicated-ref', 'expected.xml'), 'rb').read()
        pins_a = first.split(b"<cputune>")[1].split(b"</cputune>")[0]
        pins_b = r.stdout.split(b"<cputune>")[1].split(b"</cputune>")[0] if r.returncode == 0 else b''
        check('--domains books existing placements', r.returncode == 0 and pins_a != pins_b,
              r.stderr)
        r = kt('rewrite', *base, '--domains', d, case('engine-db-dedicated-ref'))
        check('--domains: a redefinition keeps its booking',
              r.returncode == 0 and r.stdout == first, r.stderr)

    with tempfile.TemporaryDirectory() as d:
        mix = os.path.join(d, 'mix')
        with open(mix, 'w') as f:
            f.write('# arrival order\n' + 'db.large 8 16384\n' * 20)
        r = kt('simulate', *base, '--mix', mix, '--json')
        doc = json.loads(r.stdout) if r.returncode == 0 else {}
        check('simulate --json has placed and refusal',
              doc.get('placed', 0) > 0 and 'isolated cores' in (doc.get('refusal') or ''), r.stderr)
        r = kt('simulate', *base, '--mix', mix)
        check('simulate text', r.returncode == 0 and b'placed: ' in r.stdout
              and b'refused: line ' in r.stdout, r.stderr)
        with open(mix, 'w') as f:
            f.write('db.large eight 16384\n')
        r = kt('simulate', *base, '--mix', mix)
        check('bad mix exits 1 with file:line', r.returncode == 1 and b'mix:1:' in r.stderr,
              r.stderr)
    r = kt('simulate', *base)
    check('simulate without --mix exits 1', r.returncode == 1, r.stderr)

    for sub in ('rewrite', 'explain', 'simulate'):
        r = kt(sub, '--help')
        check('%s --help' % sub, r.returncode == 0 and b'SYNOPSIS' in r.stdout
              and b'EXIT STATUS' in r.stdout, r.stderr)

    print('1..%d' % len(results))
    for i, (name, ok, detail) in enumerate(results, 1):
        print('%s %d - %s' % ('ok' if ok else 'not ok', i, name))
        if not ok and detail:
            for line in (detail.decode(errors='replace') if isinstance(detail, bytes)
                         else str(detail)).splitlines()[:10]:
                print('# ' + line)
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main())
