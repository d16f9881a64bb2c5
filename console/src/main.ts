// The console's shell: a hash router over the four pages (jobs, a job, a dispute, providers) plus the disputes
// list and a transaction view, the network badge and the sign-in menu.

import "uplot/dist/uPlot.min.css";
import "./style.css";

import { market } from "./api";
import { h, replace } from "./dom";
import { context } from "./live";
import { renderDispute, renderDisputes } from "./pages/disputes";
import { renderJob } from "./pages/job";
import { renderJobs } from "./pages/jobs";
import { renderProviders } from "./pages/providers";
import { renderTx } from "./pages/tx";
import { listDevAccounts, onChange, restore, session, signInWithDevAccount, signInWithWallet, signOut, wallet } from "./session";
import { addr, labelAddresses } from "./widgets";

type Render = (root: HTMLElement, ctx: ReturnType<typeof context>, params: { id: string; query: URLSearchParams }) => void;

const ROUTES: [RegExp, string, Render][] = [
  [/^\/jobs\/(\d+)$/, "jobs", renderJob],
  [/^\/jobs\/?$/, "jobs", renderJobs],
  [/^\/disputes\/(\d+)$/, "disputes", renderDispute],
  [/^\/disputes\/?$/, "disputes", renderDisputes],
  [/^\/providers\/?$/, "providers", renderProviders],
  [/^\/tx\/(0x[0-9a-fA-F]{64})$/, "", renderTx],
];

const app = document.getElementById("app") as HTMLElement;
let leave: AbortController | null = null;

function route(): Promise<void> {
  const raw = location.hash.replace(/^#/, "") || "/jobs";
  const [path, qs] = raw.split("?");
  leave?.abort();
  leave = new AbortController();
  const found = ROUTES.find(([re]) => re.test(path));
  document.querySelectorAll<HTMLAnchorElement>("[data-nav]").forEach((a) => a.classList.toggle("active", !!found && a.dataset.nav === found[1]));
  const banner = h("div", { class: "banner", hidden: true });
  const root = h("div", { class: "page-body" });
  replace(app, banner, root);
  if (!found) {
    replace(root, h("h1", null, "Not found"), h("p", null, "No page at ", h("code", null, path), ". ", h("a", { href: "#/jobs" }, "Back to jobs")));
    return Promise.resolve();
  }
  const ctx = context(leave.signal, (e) => {
    banner.hidden = !e;
    if (e) replace(banner, e instanceof Error ? e.message : String(e), " — retrying");
  });
  const m = path.match(found[0]);
  found[2](root, ctx, { id: m?.[1] ?? "", query: new URLSearchParams(qs || "") });
  return ctx.firstRound;
}

function signInMenu(): void {
  const el = document.getElementById("signin") as HTMLElement;
  const s = session();
  if (s) {
    replace(el, h("span", { class: "signed-in", "data-address": s.address }, addr(s.address)),
      h("button", { class: "btn ghost", onclick: () => { signOut(); route(); } }, "Sign out"));
    return;
  }
  const menu = h("div", { class: "menu", hidden: true });
  const fail = (e: unknown) => replace(menu, h("div", { class: "menu-error" }, e instanceof Error ? e.message : String(e)));
  const open = async () => {
    if (!menu.hidden) {
      menu.hidden = true;
      return;
    }
    menu.hidden = false;
    replace(menu, h("div", { class: "menu-note" }, "Sign-In with Ethereum"));
    const w = wallet();
    menu.append(h("button", { class: "menu-item", disabled: !w, "data-signin": "wallet",
      onclick: () => signInWithWallet().then(() => route(), fail) }, w ? "Browser wallet" : "No browser wallet found"));
    try {
      const devs = await listDevAccounts();
      if (devs && devs.length) {
        menu.append(h("div", { class: "menu-note" }, "Devnet accounts (dev keys: this devnet only)"));
        for (const d of devs) {
          menu.append(h("button", { class: "menu-item", "data-signin": d.name,
            onclick: () => signInWithDevAccount(d.name).then(() => route(), fail) }, h("b", null, d.name), " ", h("span", { class: "muted" }, d.address.slice(0, 10) + "…")));
        }
      }
    } catch (e) {
      fail(e);
    }
  };
  replace(el, h("div", { class: "menu-wrap" }, h("button", { class: "btn primary", id: "signin-button", onclick: open }, "Sign in"), menu));
}

async function network(): Promise<void> {
  const el = document.getElementById("network") as HTMLElement;
  try {
    const m = await market();
    const devnet = m.chain_id === 31337;
    replace(el, h("span", { class: "dot ok" }), devnet ? "devnet" : `chain ${m.chain_id}`,
      h("span", { class: "muted" }, ` · ${m.confirmations} confirmation${m.confirmations === 1 ? "" : "s"}`));
  } catch {
    replace(el, h("span", { class: "dot bad" }), "coordinator unreachable");
  }
}

restore();
onChange(signInMenu);
window.addEventListener("hashchange", () => void route());
signInMenu();
const opened = route();
void network();
// Devnet names for addresses ("client", "worker-1") are a nicety: read once the page's own first reads are done,
// so they never queue ahead of what the page draws (a browser opens six connections to one host). An early
// click on "Sign in" reads them at once (the read is shared). Pages pick them up on their next draw.
void opened.then(() => listDevAccounts()).catch(() => null).then((devs) => {
  if (!devs?.length) return;
  if (session()) signInMenu(); // the signed-in label gets its name; an open menu is left alone
  labelAddresses(app); // what is already drawn, in place: re-routing would throw the page away and read it all again
});
