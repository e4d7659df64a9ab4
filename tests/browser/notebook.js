// Drives Debian's chromium through the classic Jupyter Notebook as a user
// would, against a running notebook server with the gompi kernelspec
// installed (tests/browser_test.go starts the server and runs this script).
//
// Environment:
//   NB_URL        http://127.0.0.1:PORT (the server)
//   NB_TOKEN      its token
//   NB_KERNEL     the kernelspec name (the New menu item is #kernel-NAME)
//   NB_NOTEBOOKS  notebook paths relative to the server's root, comma separated (Run All on each)
//   NB_SHOTS      directory for one screenshot per step
//   NB_PROFILE    an empty directory for chromium's profile
//   NB_BINARY     the kernel binary's path: no process naming it may be left after Close and Halt
//   CHROMIUM      the browser (default /usr/bin/chromium)
//
// It prints one line per step ("ok NAME (1.2s)" or "FAIL NAME: why") and
// exits 1 if a step failed. Every wait has a timeout; the whole run is
// bounded by TOTAL_MS.
'use strict';

const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const env = (name, def) => {
  const v = process.env[name] || def;
  if (v === undefined) {
    console.log(`FAIL setup: ${name} is not set`);
    process.exit(2);
  }
  return v;
};
const BASE = env('NB_URL');
const TOKEN = env('NB_TOKEN');
const KERNEL = env('NB_KERNEL');
const NOTEBOOKS = env('NB_NOTEBOOKS', '').split(',').filter(Boolean);
const SHOTS = env('NB_SHOTS');
const PROFILE = env('NB_PROFILE');
const BINARY = env('NB_BINARY');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

const TOTAL_MS = 6 * 60 * 1000;
const STEP_MS = 90 * 1000;
const RUN_ALL_MS = 200 * 1000;

if (!BASE.startsWith('http://127.0.0.1:')) {
  console.log(`FAIL setup: NB_URL ${BASE} is not on 127.0.0.1`);
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failures = [];
let shotNo = 0;
let browser;

// A hard stop: whatever hangs, the script ends.
const killer = setTimeout(() => {
  console.log(`FAIL total: still running after ${TOTAL_MS / 1000} s`);
  if (browser) browser.process()?.kill('SIGKILL');
  process.exit(3);
}, TOTAL_MS);
killer.unref();

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function shot(page, name) {
  if (!page || page.isClosed()) return;
  shotNo++;
  const file = path.join(SHOTS, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  try {
    // A notebook scrolls inside #site, not the document: make the window
    // tall enough to show the whole notebook (bounded), then shoot.
    const h = await page.evaluate(() => {
      const site = document.querySelector('#site');
      return site ? site.scrollHeight + site.getBoundingClientRect().top : 0;
    });
    const tall = h > 1000;
    if (tall) {
      await page.setViewport({ width: 1280, height: Math.min(Math.ceil(h) + 20, 8000) });
      await sleep(300);
    }
    await withTimeout(page.screenshot({ path: file, fullPage: true }), 20000, 'screenshot');
    if (tall) await page.setViewport({ width: 1280, height: 1000 });
    console.log(`shot ${file}`);
  } catch (e) {
    console.log(`shot ${file} failed: ${e.message}`);
  }
}

// step runs fn(page) within STEP_MS (or ms), then screenshots the page.
async function step(name, page, fn, ms = STEP_MS) {
  const t0 = Date.now();
  let err;
  try {
    await withTimeout(fn(), ms, name);
  } catch (e) {
    err = e;
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  await shot(typeof page === 'function' ? page() : page, name);
  if (err) {
    failures.push(name);
    console.log(`FAIL ${name} (${secs}s): ${err.message.split('\n').join('\n    ')}`);
    return false;
  }
  console.log(`ok ${name} (${secs}s)`);
  return true;
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// waitFor polls fn (run in the page) until it returns a truthy value.
async function waitFor(page, fn, ms, what, ...args) {
  try {
    const h = await page.waitForFunction(fn, { timeout: ms, polling: 100 }, ...args);
    return await h.jsonValue();
  } catch (e) {
    throw new Error(`${what} (waited ${ms / 1000} s): ${e.message.split('\n')[0]}`);
  }
}

// The kernel's state as the indicator in the notebook's top right shows it.
const kernelIdle = () => {
  const i = document.querySelector('#kernel_indicator_icon');
  return i && i.classList.contains('kernel_idle_icon');
};

// What the code cell at index i shows: its prompt, its text, its outputs.
async function cellView(page, i) {
  return page.evaluate((i) => {
    const cell = document.querySelectorAll('#notebook-container .cell')[i];
    if (!cell) return null;
    const outs = [...cell.querySelectorAll('.output_area')].map((a) => ({
      cls: a.querySelector('.output_subarea')?.className || '',
      text: a.innerText,
      html: a.querySelector('.output_subarea')?.innerHTML || '',
    }));
    return {
      prompt: cell.querySelector('.input_prompt')?.innerText.replace(/\s+/g, ' ').trim(),
      text: cell.querySelector('.CodeMirror')?.CodeMirror.getValue(),
      outputs: outs,
      outputText: outs.map((o) => o.text).join('\n'),
    };
  }, i);
}

const cellCount = (page) => page.evaluate(() => document.querySelectorAll('#notebook-container .cell').length);

// freshCell returns the index of an unexecuted code cell at the end
// of the notebook, adding one as a person would (Esc, then B) if needed.
async function freshCell(page) {
  const n = await cellCount(page);
  const last = await page.evaluate((i) => {
    const c = document.querySelectorAll('#notebook-container .cell')[i];
    return {
      code: c.classList.contains('code_cell'),
      text: c.querySelector('.CodeMirror')?.CodeMirror.getValue(),
      prompt: c.querySelector('.input_prompt')?.innerText || '',
    };
  }, n - 1);
  if (last.code && !/\[[\d*]+\]/.test(last.prompt)) return n - 1; // typeInCell empties it
  const editors = await page.$$('#notebook-container .cell .CodeMirror');
  await editors[editors.length - 1].click();
  await page.keyboard.press('Escape');
  await page.keyboard.press('KeyB');
  await waitFor(page, (n) => document.querySelectorAll('#notebook-container .cell').length === n + 1, 5000, 'a new cell (B)', n);
  return n;
}

// typeInCell clicks into the code cell at index i, empties it and types code key by key
// (CodeMirror closes brackets and quotes as it does for a person; typing
// the closing one steps over it), then checks the cell holds exactly code.
async function typeInCell(page, i, code, want = code) {
  const editor = (await page.$$('#notebook-container .cell .CodeMirror'))[i];
  check(editor, `no code cell ${i} to type into`);
  let mode;
  for (let n = 0; n < 3 && mode !== 'edit'; n++) {
    if (n > 0) await sleep(500); // a dialog or notice may still be fading out
    await editor.click();
    mode = await page.evaluate(() => Jupyter.notebook.mode);
  }
  check(mode === 'edit', `cell ${i} is not in edit mode after a click (${mode})`);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(code, { delay: 5 });
  const v = await cellView(page, i);
  check(v.text === want, `cell ${i} holds ${JSON.stringify(v.text)}, typed ${JSON.stringify(code)}`);
}

// runCell types code into cell i, presses Shift+Enter and waits until the
// cell has its execution count and the kernel is idle; returns the view.
async function runCell(page, i, code, ms = 60000) {
  await typeInCell(page, i, code);
  await page.keyboard.down('Shift');
  await page.keyboard.press('Enter');
  await page.keyboard.up('Shift');
  await waitFor(
    page,
    (i) => {
      const cell = document.querySelectorAll('#notebook-container .cell')[i];
      const p = cell.querySelector('.input_prompt').innerText;
      const i2 = document.querySelector('#kernel_indicator_icon');
      return /\[\d+\]/.test(p) && i2.classList.contains('kernel_idle_icon');
    },
    ms,
    `cell ${i} to finish`,
    i,
  );
  return cellView(page, i);
}

const wantLines = (text, lines, what) => {
  const have = new Set(text.split('\n').map((l) => l.trimEnd()));
  const missing = lines.filter((l) => !have.has(l));
  check(missing.length === 0, `${what} lacks ${JSON.stringify(missing)}; shows:\n${text}`);
};

// Pids of live processes whose command line names the kernel binary
// (mpirun's and every rank's).
function kernelProcesses() {
  const pids = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue;
      if (cmd.includes(BINARY)) pids.push(`${e}: ${cmd.split('\0').join(' ').trim()}`);
    } catch (_) {
      // gone meanwhile
    }
  }
  return pids;
}

async function api(p) {
  const r = await fetch(`${BASE}${p}`, { headers: { Authorization: `token ${TOKEN}` } });
  check(r.ok, `GET ${p}: ${r.status}`);
  return r.json();
}

async function waitNoKernel(ms) {
  const end = Date.now() + ms;
  let left = kernelProcesses();
  let kernels = await api('/api/kernels');
  while ((left.length || kernels.length) && Date.now() < end) {
    await sleep(250);
    left = kernelProcesses();
    kernels = await api('/api/kernels');
  }
  check(kernels.length === 0, `the server still runs kernels: ${JSON.stringify(kernels)}`);
  check(left.length === 0, `processes left ${ms / 1000} s after Close and Halt:\n${left.join('\n')}`);
}

// closeAndHalt uses File → Close and Halt and waits for the window to close.
async function closeAndHalt(page) {
  const closed = new Promise((r) => page.once('close', r));
  await page.click('#filelink');
  await page.waitForSelector('#close_and_halt a', { visible: true, timeout: 5000 });
  await page.click('#close_and_halt a');
  await withTimeout(closed, 20000, 'the window to close after Close and Halt');
}

// answerDialog leaves the page when the browser asks (Close and Halt of a
// notebook with unsaved outputs: "Leave site?"), as a person would click
// Leave; no other browser dialog is expected.
function answerDialog(d) {
  console.log(`  browser dialog (${d.type()}) ${JSON.stringify(d.message())}: ${d.type() === 'beforeunload' ? 'leave' : 'dismiss'}`);
  if (d.type() === 'beforeunload') d.accept();
  else d.dismiss();
}

// openNotebookPage waits for the window that the tree opened for a notebook.
async function openNotebookPage(pages, name = 'Untitled') {
  const target = await browser.waitForTarget((t) => t.url().includes(`/notebooks/${name}`), { timeout: 20000 });
  const page = await target.page();
  pages.nb = page;
  await page.setViewport({ width: 1280, height: 1000 });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  page.on('dialog', answerDialog);
  return page;
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: PROFILE,
    args: [
      '--no-sandbox', // root in a container
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    defaultViewport: { width: 1280, height: 1000 },
    protocolTimeout: 60000,
  });
  console.log(`browser ${await browser.version()}`);

  const tree = await browser.newPage();
  const pages = { nb: null };
  const nb = () => pages.nb || tree;

  // 1. The tree, logged in by the token in the URL; New → the 4-rank kernel.
  let page;
  const created = await step('new-notebook', nb, async () => {
    await tree.goto(`${BASE}/tree?token=${TOKEN}`, { waitUntil: 'networkidle2', timeout: 30000 });
    await tree.waitForSelector('#new-dropdown-button', { visible: true, timeout: 20000 });
    await tree.click('#new-dropdown-button');
    const item = `#kernel-${KERNEL} a`;
    await tree.waitForSelector(item, { visible: true, timeout: 20000 });
    await shot(tree, 'new-menu');
    const label = await tree.$eval(item, (a) => a.innerText);
    check(/4 ranks/.test(label), `the New menu item for ${KERNEL} reads ${JSON.stringify(label)}`);
    await tree.click(item);
    page = await openNotebookPage(pages);
    await page.waitForSelector('#notebook-container .cell .CodeMirror', { visible: true, timeout: 30000 });
    await waitFor(page, kernelIdle, 60000, 'the kernel to start (idle indicator)');
    const name = await page.$eval('.kernel_indicator_name', (e) => e.innerText);
    check(/4 ranks/.test(name), `the kernel name in the notebook reads ${JSON.stringify(name)}`);
  });
  if (!created) return;

  let cell;

  // 2. Output of every rank, labelled.
  await step('labelled-output', nb, async () => {
    cell = await freshCell(page);
    const v = await runCell(page, cell, 'fmt.Println("hello from rank", mpi.Rank(), "of", mpi.Size())');
    wantLines(v.outputText, [0, 1, 2, 3].map((r) => `[${r}] hello from rank ${r} of 4`), 'the output');
  });

  // 3. HTML from every rank.
  await step('html', nb, async () => {
    cell = await freshCell(page);
    const v = await runCell(
      page,
      cell,
      'display.HTML(fmt.Sprintf("<b class=\'gompi-b\'>bold from rank %d</b>", mpi.Rank()))',
    );
    const bold = await page.evaluate(
      (i) =>
        [...document.querySelectorAll('#notebook-container .cell')[i].querySelectorAll('.output_html b.gompi-b')].map(
          (b) => [b.innerText, getComputedStyle(b).fontWeight],
        ),
      cell,
    );
    const texts = bold.map((b) => b[0]).sort();
    check(
      JSON.stringify(texts) === JSON.stringify([0, 1, 2, 3].map((r) => `bold from rank ${r}`)),
      `bold HTML elements: ${JSON.stringify(bold)}; output:\n${v.outputText}`,
    );
    check(bold.every((b) => Number(b[1]) >= 600), `not rendered bold: ${JSON.stringify(bold)}`);
    // Rich output from a rank other than 0 follows a line naming the rank;
    // so does rank 0's when another rank's came first.
    const areas = await page.evaluate(
      (i) =>
        [...document.querySelectorAll('#notebook-container .cell')[i].querySelectorAll('.output_area')].map((a) =>
          a.innerText.trim(),
        ),
      cell,
    );
    for (let k = 0; k < areas.length; k++) {
      const m = areas[k].match(/bold from rank (\d)/);
      const othersFirst = areas.slice(0, k).some((a) => /bold from rank [1-9]/.test(a));
      if (m && (m[1] !== '0' || othersFirst)) {
        check(k > 0 && areas[k - 1] === `[${m[1]}]`, `HTML of rank ${m[1]} not labelled: ${JSON.stringify(areas)}`);
      }
    }
  });

  // 4. A gonum plot through display, from rank 0.
  await step('plot', nb, async () => {
    cell = await freshCell(page);
    const code = [
      'p := plot.New(); p.Title.Text = "sin on rank 0"',
      'pts := make(plotter.XYs, 60)',
      'for i := range pts { pts[i].X = float64(i) / 10; pts[i].Y = math.Sin(pts[i].X) }',
      'line, err := plotter.NewLine(pts); if err != nil { panic(err) }',
      'p.Add(line)',
      'if mpi.Rank() == 0 { display.Plot(p, 4*vg.Inch, 3*vg.Inch) }',
    ].join('\n');
    const v = await runCell(page, cell, code);
    const imgs = await page.evaluate(
      (i) =>
        [...document.querySelectorAll('#notebook-container .cell')[i].querySelectorAll('.output_png img')].map((img) => ({
          src: img.src.slice(0, 22),
          w: img.naturalWidth,
          h: img.naturalHeight,
          complete: img.complete,
        })),
      cell,
    );
    check(imgs.length === 1, `${imgs.length} images, want 1; output:\n${v.outputText}`);
    const img = imgs[0];
    check(img.src.startsWith('data:image/png'), `image source ${img.src}`);
    check(img.complete && img.w > 200 && img.h > 150, `the image did not render: ${JSON.stringify(img)}`);
  });

  // 5. A progress bar updated in place.
  await step('progress', nb, async () => {
    cell = await freshCell(page);
    const code = [
      'bar := display.NewID()',
      'show := func(i int) { display.Update(bar, map[string]any{"text/html": fmt.Sprintf("<progress value=%d max=100></progress> %d%%", i, i)}) }',
      'if mpi.Rank() == 0 { for i := 0; i <= 100; i += 20 { show(i); time.Sleep(200 * time.Millisecond) } }',
    ].join('\n');
    await typeInCell(page, cell, code);
    await page.keyboard.down('Shift');
    await page.keyboard.press('Enter');
    await page.keyboard.up('Shift');
    // While it runs, the bar moves without new outputs appearing.
    const seen = new Set();
    const end = Date.now() + 60000;
    let done = false;
    while (Date.now() < end && !done) {
      const st = await page.evaluate((i) => {
        const c = document.querySelectorAll('#notebook-container .cell')[i];
        const bars = [...c.querySelectorAll('.output_area progress')].map((p) => p.value);
        return { bars, areas: c.querySelectorAll('.output_area').length, prompt: c.querySelector('.input_prompt').innerText };
      }, cell);
      if (st.bars.length > 1 || st.areas > 1) throw new Error(`${st.bars.length} bars in ${st.areas} outputs, want one bar updated in place`);
      if (st.bars.length === 1) seen.add(st.bars[0]);
      done = /\[\d+\]/.test(st.prompt);
      await sleep(50);
    }
    check(done, 'the cell did not finish within 60 s');
    await waitFor(page, kernelIdle, 10000, 'the kernel to be idle');
    const v = await cellView(page, cell);
    check(v.outputs.length === 1, `${v.outputs.length} outputs, want 1:\n${v.outputText}`);
    check(/100%/.test(v.outputText), `the bar does not show 100%: ${v.outputText}`);
    const final = await page.evaluate(
      (i) => document.querySelectorAll('#notebook-container .cell')[i].querySelector('.output_area progress').value,
      cell,
    );
    check(final === 100, `the bar's value is ${final}, want 100`);
    check(seen.size >= 2, `saw the bar at ${[...seen]} only: not updated in place while running`);
    console.log(`  progress values seen while running: ${[...seen].sort((a, b) => a - b).join(' ')}`);
  });

  // 6. A panic on rank 2 renders red and names the rank.
  await step('error-red', nb, async () => {
    cell = await freshCell(page);
    const v = await runCell(page, cell, 'if mpi.Rank() == 2 { panic("boom") }');
    const err = await page.evaluate((i) => {
      const c = document.querySelectorAll('#notebook-container .cell')[i];
      const e = c.querySelector('.output_error');
      if (!e) return null;
      const red = [...e.querySelectorAll('span')]
        .filter((s) => /ansi-red/.test(s.className))
        .map((s) => ({ cls: s.className, text: s.innerText, color: getComputedStyle(s).color }));
      return { text: e.innerText, red };
    }, cell);
    check(err, `no error output (.output_error); the cell shows:\n${v.outputText}`);
    check((err.text.match(/boom/g) || []).length === 1, `the error does not say boom once:\n${err.text}`);
    check(/cell \d+, line 1\b/.test(err.text), `the error does not point at the cell's own line 1:\n${err.text}`);
    check(/rank 2\b|ranks? [0-9,-]*2/.test(err.text), `the error does not name rank 2:\n${err.text}`);
    check(err.red.length > 0, `nothing in the error is red (no ansi-red span):\n${err.text}`);
    const rgb = err.red[0].color.match(/\d+/g).map(Number);
    check(rgb[0] > 150 && rgb[1] < 100 && rgb[2] < 100, `the "red" span has colour ${err.red[0].color}`);
    console.log(`  red: ${JSON.stringify(err.red[0].text)} (${err.red[0].color}); error text:\n    ${err.text.split('\n').join('\n    ')}`);
  });

  // 7. The ■ button ends a 30 s sleep within a few seconds.
  await step('interrupt', nb, async () => {
    cell = await freshCell(page);
    await typeInCell(page, cell, 'time.Sleep(30 * time.Second); fmt.Println("slept")');
    await page.keyboard.down('Shift');
    await page.keyboard.press('Enter');
    await page.keyboard.up('Shift');
    await waitFor(
      page,
      () => document.querySelector('#kernel_indicator_icon').classList.contains('kernel_busy_icon'),
      10000,
      'the kernel to be busy',
    );
    await sleep(1500);
    const t0 = Date.now();
    await page.click('button[data-jupyter-action="jupyter-notebook:interrupt-kernel"]');
    await waitFor(
      page,
      (i) => /\[\d+\]/.test(document.querySelectorAll('#notebook-container .cell')[i].querySelector('.input_prompt').innerText),
      10000,
      'the cell to end after ■',
      cell,
    );
    const secs = (Date.now() - t0) / 1000;
    // The error comes on iopub, the reply that numbers the prompt on shell,
    // and the idle of the interrupt_request on iopub too: either may be
    // shown before the error is.
    await waitFor(
      page,
      (i) => [...document.querySelectorAll('#notebook-container .cell')[i].querySelectorAll('.output_area')].some((a) => /Interrupted/.test(a.innerText)),
      10000,
      'the cell to say Interrupted',
      cell,
    );
    await waitFor(page, kernelIdle, 10000, 'the kernel to be idle');
    const v = await cellView(page, cell);
    check(!/slept/.test(v.outputText), `the sleep was not interrupted:\n${v.outputText}`);
    check((v.outputText.match(/Interrupted/g) || []).length === 1, `the cell does not say Interrupted once:\n${v.outputText}`);
    console.log(`  ended ${secs.toFixed(1)} s after ■; shows:\n    ${v.outputText.split('\n').join('\n    ')}`);
  });

  // 8. Tab completion lists strings.Fields and friends.
  await step('tab-completion', nb, async () => {
    cell = await freshCell(page);
    await typeInCell(page, cell, 'strings.Fi');
    await page.keyboard.press('Tab');
    await page.waitForSelector('#complete select', { visible: true, timeout: 20000 });
    const opts = await page.$$eval('#complete select option', (os) => os.map((o) => o.innerText));
    check(opts.some((o) => /^(strings\.)?Fields$/.test(o)), `the completion list lacks Fields: ${JSON.stringify(opts)}`);
    check(opts.every((o) => /^(strings\.)?Fi/.test(o)), `the completion list has strangers: ${JSON.stringify(opts)}`);
    console.log(`  completions: ${opts.join(' ')}`);
  });
  await page.keyboard.press('Escape');
  await page.evaluate(() => document.querySelector('#complete')?.remove());

  // 9. Shift+Tab inside strings.Fields( shows the signature first.
  await step('shift-tab-tooltip', nb, async () => {
    cell = await freshCell(page);
    // CodeMirror closes the parenthesis; the cursor stays inside.
    await typeInCell(page, cell, 'strings.Fields(', 'strings.Fields()');
    await page.keyboard.down('Shift');
    await page.keyboard.press('Tab');
    await page.keyboard.up('Shift');
    await page.waitForSelector('#tooltip .tooltiptext', { visible: true, timeout: 20000 });
    await waitFor(page, () => document.querySelector('#tooltip .tooltiptext').innerText.trim().length > 0, 10000, 'tooltip text');
    await waitFor(page, () => getComputedStyle(document.querySelector('#tooltip')).opacity === '1', 5000, 'the tooltip to fade in');
    const text = await page.$eval('#tooltip .tooltiptext', (e) => e.innerText);
    check(/^\s*func Fields\(s string\) \[\]string/.test(text), `the tooltip does not start with the signature:\n${text}`);
    console.log(`  tooltip: ${JSON.stringify(text.slice(0, 120))}`);
  });
  await page.keyboard.press('Escape');

  // 10. An input box for fmt.Scanln on rank 0.
  await step('input-box', nb, async () => {
    cell = await freshCell(page);
    await typeInCell(page, cell, 'var s string\nif mpi.Rank() == 0 { fmt.Print("your name? "); fmt.Scanln(&s); fmt.Println("hello,", s) }');
    await page.keyboard.down('Shift');
    await page.keyboard.press('Enter');
    await page.keyboard.up('Shift');
    const box = await page.waitForSelector('input.raw_input', { visible: true, timeout: 30000 });
    await shot(page, 'input-box-shown');
    await box.click();
    await page.keyboard.type('gopher');
    await page.keyboard.press('Enter');
    await waitFor(
      page,
      (i) => /\[\d+\]/.test(document.querySelectorAll('#notebook-container .cell')[i].querySelector('.input_prompt').innerText),
      20000,
      'the cell to end after the input',
      cell,
    );
    await waitFor(page, kernelIdle, 10000, 'the kernel to be idle');
    const v = await cellView(page, cell);
    check(/\[0\] hello, gopher/.test(v.outputText), `the cell does not print the typed value:\n${v.outputText}`);
    console.log(`  shows:\n    ${v.outputText.split('\n').join('\n    ')}`);
  });

  // 11. Kernel → Restart, confirmed; the kernel comes back and runs a cell.
  await step('restart', nb, async () => {
    const before = kernelProcesses();
    await page.click('#kernellink');
    await page.waitForSelector('#restart_kernel a', { visible: true, timeout: 5000 });
    await page.click('#restart_kernel a');
    const confirm = await page.waitForSelector('.modal-footer button.btn-danger', { visible: true, timeout: 10000 });
    const label = await confirm.evaluate((b) => b.innerText);
    check(/Restart/.test(label), `the dialog's button reads ${JSON.stringify(label)}`);
    await confirm.click();
    await page.waitForSelector('.modal', { hidden: true, timeout: 10000 });
    // The old kernel's processes go, a new kernel's come.
    const end = Date.now() + 60000;
    let now = kernelProcesses();
    while (Date.now() < end && (now.length < 5 || now.some((p) => before.includes(p)))) {
      await sleep(200);
      now = kernelProcesses();
    }
    check(now.length >= 5 && !now.some((p) => before.includes(p)), `after 60 s the kernel processes are:\n${now.join('\n')}\nbefore the restart:\n${before.join('\n')}`);
    await waitFor(page, kernelIdle, 60000, 'the kernel to be idle after the restart');
    await page.waitForSelector('.modal-backdrop', { hidden: true, timeout: 10000 });
    cell = await freshCell(page);
    const v = await runCell(page, cell, 'fmt.Println("back on", mpi.Size(), "ranks")');
    // Alike lines from every rank show once, collapsed (%output collapsed).
    wantLines(v.outputText, ['[0-3] back on 4 ranks'], 'the output after the restart');
    const after = kernelProcesses();
    check(after.length > 0, 'no kernel process after the restart');
    check(!after.some((p) => before.includes(p)), `a process of the old kernel lives on:\n${after.join('\n')}`);
    console.log(`  kernel processes: ${before.length} before, ${after.length} after`);
  });

  // 12. File → Close and Halt: the window closes and no process is left.
  await step('close-and-halt', nb, async () => {
    await shot(page, 'before-close-and-halt');
    await closeAndHalt(page);
    pages.nb = null;
    await waitNoKernel(20000);
  });
  await tree.bringToFront();
  await tree.reload({ waitUntil: 'networkidle2', timeout: 30000 }).catch(() => {});

  // 13. Run All on every notebook in notebooks/.
  for (const nbPath of NOTEBOOKS) {
    const base = path.basename(nbPath, '.ipynb');
    await step(
      `run-all-${base}`,
      nb,
      async () => {
        // Open it from the list in the tree, as a person would (a new window).
        await tree.bringToFront();
        const link = `a.item_link[href$="/notebooks/${encodeURIComponent(nbPath)}"]`;
        await tree.locator(link).setTimeout(20000).click();
        const p = await openNotebookPage(pages, nbPath);
        await p.waitForSelector('#notebook-container .cell', { visible: true, timeout: 30000 });
        await waitFor(p, kernelIdle, 60000, 'the kernel to start');
        const fresh = await p.evaluate(() =>
          [...document.querySelectorAll('#notebook-container .code_cell .input_prompt')].every((e) => !/\d/.test(e.innerText)),
        );
        check(fresh, 'the notebook shows execution counts before Run All');
        await p.click('#celllink');
        await p.waitForSelector('#run_all_cells a', { visible: true, timeout: 5000 });
        const t0 = Date.now();
        await p.click('#run_all_cells a');
        await waitFor(
          p,
          () => {
            const ind = document.querySelector('#kernel_indicator_icon');
            const prompts = [...document.querySelectorAll('#notebook-container .code_cell')]
              .filter((c) => c.querySelector('.CodeMirror').CodeMirror.getValue().trim() !== '')
              .map((c) => c.querySelector('.input_prompt').innerText);
            const running = prompts.some((t) => /\[\*\]/.test(t));
            const done = prompts.every((t) => /\[\d+\]/.test(t));
            const err = document.querySelector('.output_error');
            return ind.classList.contains('kernel_idle_icon') && !running && (done || err);
          },
          RUN_ALL_MS - 40000,
          'every cell to run',
        );
        const res = await p.evaluate(() => {
          const cells = [...document.querySelectorAll('#notebook-container .code_cell')];
          return {
            cells: cells.length,
            counted: cells.filter((c) => /\[\d+\]/.test(c.querySelector('.input_prompt').innerText)).length,
            errors: [...document.querySelectorAll('.output_error')].map((e) => e.innerText),
            outputs: document.querySelectorAll('#notebook-container .output_area').length,
          };
        });
        check(res.errors.length === 0, `error output:\n${res.errors.join('\n---\n')}`);
        check(res.counted === res.cells, `${res.counted} of ${res.cells} code cells ran`);
        check(res.outputs > 0, 'no output at all');
        console.log(`  ${res.cells} code cells ran in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${res.outputs} outputs, no error`);
        await shot(p, `run-all-${base}-done`);
        await closeAndHalt(p);
        pages.nb = null;
        await waitNoKernel(20000);
      },
      RUN_ALL_MS,
    );
    if (pages.nb && !pages.nb.isClosed()) {
      await pages.nb.close().catch(() => {});
      pages.nb = null;
    }
  }
}

main()
  .catch((e) => {
    failures.push('main');
    console.log(`FAIL main: ${e.stack || e}`);
  })
  .finally(async () => {
    if (browser) await withTimeout(browser.close(), 10000, 'browser close').catch(() => browser.process()?.kill('SIGKILL'));
    console.log(failures.length ? `${failures.length} step(s) failed: ${failures.join(' ')}` : 'all steps passed');
    process.exit(failures.length ? 1 : 0);
  });
