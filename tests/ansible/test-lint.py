#!/usr/bin/python3
"""ansible-lint (production profile) and --syntax-check of ansible/ (TAP)."""

import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get('KT_SOURCE_ROOT',
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ANSIBLE_DIR = os.path.join(SRC, 'ansible')


def main():
    for prog in ('ansible-lint', 'ansible-playbook'):
        if not shutil.which(prog):
            print(f'1..0 # SKIP {prog} not installed')
            return 77
    failed = 0
    with tempfile.TemporaryDirectory(prefix='kt-ansible-lint-') as home:
        env = dict(os.environ, LC_ALL='C.UTF-8', LANG='C.UTF-8', ANSIBLE_NOCOLOR='1', NO_COLOR='1', HOME=home,
                   ANSIBLE_LOCAL_TEMP=os.path.join(home, 'tmp'),
                   ANSIBLE_ROLES_PATH=os.path.join(ANSIBLE_DIR, 'roles'))
        checks = [
            ('ansible-lint --profile production',
             ['ansible-lint', '--offline', '--nocolor', '--profile', 'production',
              'playbook.yml', 'roles/kvmtune']),
            ('ansible-playbook --syntax-check',
             ['ansible-playbook', '--syntax-check', '-i', 'inventory.example.ini',
              'playbook.yml']),
        ]
        print(f'1..{len(checks)}')
        for i, (name, argv) in enumerate(checks, 1):
            r = subprocess.run(argv, cwd=ANSIBLE_DIR, env=env, capture_output=True,
                               text=True, timeout=600)
            if r.returncode == 0:
                print(f'ok {i} - {name}')
            else:
                failed += 1
                print(f'not ok {i} - {name}')
                for line in (r.stdout + r.stderr).splitlines()[-60:]:
                    print(f'# {line}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
