// Preloaded into uvu by test/run.mjs (-r): records, in the file named by TRUN_TEST_PROGRESS, which
// test of which file starts and how it ends, so the runner's watchdog can name the test that hung.
// uvu itself prints only a dot per test, after it ends.
'use strict';
const fs = require('node:fs');
const uvu = require('uvu');

const out = process.env.TRUN_TEST_PROGRESS;

function record(fields) {
  // One append per line: the runner reads the file while this process runs, or after it is killed.
  if (out) fs.appendFileSync(out, `${[Date.now(), ...fields].join('\t')}\n`);
}

/** The file uvu is loading now (uvu/run requires each file with its queue entry current). */
function currentFile() {
  const queue = globalThis.UVU_QUEUE;
  const group = queue && queue[globalThis.UVU_INDEX || 0];
  return group && typeof group[0] === 'string' ? group[0] : '';
}

function clean(name) {
  return String(name).replace(/[\t\n]/g, ' ');
}

function tracked(kind, name, fn) {
  const file = currentFile();
  return async (...args) => {
    record(['start', file, kind, clean(name)]);
    let ok = false;
    try {
      await fn(...args);
      ok = true;
    } finally {
      record(['end', file, kind, clean(name), ok ? 'ok' : 'fail']);
    }
  };
}

function wrap(t) {
  const w = (name, fn) => t(name, tracked('test', name, fn));
  Object.assign(w, t);
  w.only = (name, fn) => t.only(name, tracked('test', name, fn));
  w.before = (fn) => t.before(tracked('hook', 'before', fn));
  w.before.each = (fn) => t.before.each(tracked('hook', 'before.each', fn));
  w.after = (fn) => t.after(tracked('hook', 'after', fn));
  w.after.each = (fn) => t.after.each(tracked('hook', 'after.each', fn));
  return w;
}

uvu.test = wrap(uvu.test);
const suite = uvu.suite;
uvu.suite = (...args) => wrap(suite(...args));
