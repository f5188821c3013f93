// analytics-scanner page: local times, ages, live rows and a fresh chart.
// Everything it writes into the page goes through textContent, never HTML,
// but for the chart: that is the server's own template output, escaped as
// the page is, and parsed inert (DOMParser runs no script).
(function () {
  'use strict';

  var POLL_MS = 2000;
  // The chart is redrawn when a row changes status, and at least this
  // often while the list is polled (scans not on this page count too).
  var CHART_MS = 30000;
  var chartAsked = Date.now();

  function localTimes(root) {
    root.querySelectorAll('time[data-local]').forEach(function (el) {
      var d = new Date(el.getAttribute('datetime'));
      if (!isNaN(d)) { el.textContent = d.toLocaleString(); }
    });
    root.querySelectorAll('time[data-age]').forEach(function (el) {
      var d = new Date(el.getAttribute('datetime'));
      if (!isNaN(d)) { el.textContent = age(d); }
    });
  }

  function age(d) {
    var s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
    if (s < 60) { return s + ' s ago'; }
    if (s < 3600) { return Math.floor(s / 60) + ' min ago'; }
    if (s < 86400) { return Math.floor(s / 3600) + ' h ago'; }
    return d.toLocaleString();
  }

  // webURL checks again what the server checked: only http(s) is a link.
  function webURL(s) {
    try { var u = new URL(s); return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== ''; } catch (e) { return false; }
  }

  function setText(tr, field, text) {
    var el = tr.querySelector('[data-field="' + field + '"]');
    if (el && el.textContent !== text) { el.textContent = text; }
    return el;
  }

  function updateRow(tr, r) {
    var changed = tr.getAttribute('data-status') !== r.status;
    tr.setAttribute('data-status', r.status);
    tr.setAttribute('data-final', String(r.final));
    var badge = tr.querySelector('[data-field="status"] .badge');
    if (badge) { badge.className = 'badge badge-' + r.status; badge.textContent = r.status; }
    setText(tr, 'short_id', r.short_id || '');
    setText(tr, 'duration', r.duration || '');
    setText(tr, 'attempts', r.attempts || '');
    setText(tr, 'source', r.source || '');
    setText(tr, 'report', r.report ? r.report.state : '');
    var sha = tr.querySelector('[data-field="git_sha"] code');
    if (sha) { sha.textContent = r.git_sha || ''; }
    var answer = setText(tr, 'answer', r.answer || '');
    if (answer) { answer.classList.toggle('error-text', !!r.answer_is_error); }
    var cell = tr.querySelector('[data-field="git_url"]');
    if (cell && cell.textContent !== (r.git_url || '')) {
      if (r.git_url_link && webURL(r.git_url)) {
        var a = document.createElement('a');
        a.href = r.git_url;
        a.rel = 'noopener noreferrer';
        a.textContent = r.git_url;
        cell.replaceChildren(a);
      } else {
        cell.replaceChildren(document.createTextNode(r.git_url || ''));
      }
    }
    if (changed) {
      tr.classList.remove('changed');
      void tr.offsetWidth; // restart the highlight
      tr.classList.add('changed');
    }
    return changed;
  }

  function refreshChart() {
    var box = document.getElementById('chart');
    if (!box) { return Promise.resolve(); }
    chartAsked = Date.now();
    return fetch('/ui/chart', { credentials: 'same-origin' }).then(function (resp) {
      if (!resp.ok) { return; } // the rows' poll reports what is wrong
      return resp.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        box.replaceChildren.apply(box, Array.from(doc.body.childNodes));
      });
    });
  }

  function showProblem(text) {
    var p = document.getElementById('poll-problem');
    if (!p) { return; }
    p.textContent = text;
    p.hidden = !text;
  }

  function fetchRows(params) {
    return fetch('/ui/rows.json?' + params.toString(), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (body) {
          if (!resp.ok) {
            var msg = body && body.error ? body.error.message : 'the page could not refresh (' + resp.status + ')';
            throw new Error(msg);
          }
          return body;
        });
      });
  }

  function pollList(table) {
    var first = table.getAttribute('data-first') === '1';
    var params = new URLSearchParams();
    table.querySelectorAll('tbody tr[data-final="false"]').forEach(function (tr) {
      params.append('id', tr.getAttribute('data-id'));
    });
    if (first) {
      params.set('first', '1');
      if (table.getAttribute('data-status')) { params.set('status', table.getAttribute('data-status')); }
      if (table.getAttribute('data-image')) { params.set('image', table.getAttribute('data-image')); }
      if (table.getAttribute('data-report')) { params.set('report', table.getAttribute('data-report')); }
    }
    if (!params.has('id') && !first) { return Promise.resolve(); }
    return fetchRows(params).then(function (body) {
      showProblem('');
      var changed = false;
      (body.rows || []).forEach(function (r) {
        var tr = document.getElementById('scan-' + r.id);
        if (tr && updateRow(tr, r)) { changed = true; }
      });
      if (changed || Date.now() - chartAsked > CHART_MS) { refreshChart().catch(function () {}); }
      var top = table.querySelector('tbody tr');
      var note = document.getElementById('new-scans');
      if (note && body.newest && top && body.newest !== top.getAttribute('data-id') && !document.getElementById('scan-' + body.newest)) {
        note.hidden = false;
      }
    });
  }

  function pollDetail(id) {
    var params = new URLSearchParams();
    params.append('id', id);
    return fetchRows(params).then(function (body) {
      var r = (body.rows || [])[0];
      if (r && r.final) { window.location.reload(); return; }
      if (r) {
        var badge = document.getElementById('status');
        if (badge) { badge.className = 'badge badge-' + r.status; badge.textContent = r.status; }
      }
    });
  }

  function loop(step) {
    step().catch(function (e) { showProblem(String(e.message || e)); })
      .then(function () { window.setTimeout(function () { loop(step); }, POLL_MS); });
  }

  document.addEventListener('DOMContentLoaded', function () {
    localTimes(document);
    window.setInterval(function () { localTimes(document); }, 30000);
    var table = document.getElementById('scans');
    if (table) { loop(function () { return pollList(table); }); }
    var body = document.body;
    if (body.getAttribute('data-scan-id') && body.getAttribute('data-final') === 'false') {
      loop(function () { return pollDetail(body.getAttribute('data-scan-id')); });
    }
    var more = document.querySelector('#new-scans a');
    if (more) { more.href = window.location.pathname + window.location.search.replace(/([?&])(submitted|existing|removed)=[^&]*&?/, '$1'); }
  });
}());
