(function(){'use strict';
var root=document.documentElement,matrix=document.getElementById('matrix');
var panel=document.getElementById('panel'),body=document.getElementById('panel-body'),cur=null;
var only=document.getElementById('only-problems'),decl=document.getElementById('show-declared');
function setHash(h){try{history.replaceState(null,'',h||location.pathname+location.search);}
catch(_){}}
function showDeclared(on){if(!decl)return;decl.checked=on;
matrix.classList.toggle('show-declared',on);}
function open(id){var cell=document.getElementById(id);
if(!cell||!cell.classList.contains('cell'))return false;
var tpl=cell.querySelector('template.ev');if(!tpl)return false;
if(cell.getAttribute('data-col')==='declared-only')showDeclared(true);
body.replaceChildren(tpl.content.cloneNode(true));
body.querySelectorAll('pre.json').forEach(function(pre){var cut=pre.getAttribute('data-cut');
pre.textContent=indentJSON(pre.textContent)+(cut?'\n... ('+cut+' more characters cut)':'');});
if(cur)cur.classList.remove('sel');cur=cell;cell.classList.add('sel');
panel.hidden=false;panel.setAttribute('data-open-cell',id);
panel.setAttribute('data-visible',panel.offsetWidth>0&&panel.offsetHeight>0?'1':'0');
panel.scrollTop=0;return true;}
function close(){panel.hidden=true;panel.removeAttribute('data-open-cell');
panel.removeAttribute('data-visible');if(cur){cur.classList.remove('sel');
var b=cur.querySelector('button');cur=null;if(b)b.focus();}setHash('');}
function top(){window.scrollTo(0,0);}
function fromHash(){var h=location.hash,m=/^#open=(.+)$/.exec(h),id,bare=false;
if(m)id=m[1];else if(/^#cell(:|%3A)/i.test(h)){id=h.slice(1);bare=true;}else return;
try{id=decodeURIComponent(id);}catch(_){}
if(!open(id)||!bare)return;
// A bare #cell:... is also the cell's id: the browser scrolls to it by itself (at load
// too), which shifts the page under the sticky headings. Show it as #open= shows it.
setHash('#open='+encodeURIComponent(id));top();
if(document.readyState!=='complete')window.addEventListener('load',top,{once:true});}
matrix.addEventListener('click',function(e){
var btn=e.target.closest('td.cell button');if(!btn)return;var cell=btn.closest('td.cell');
if(open(cell.id))setHash('#open='+encodeURIComponent(cell.id));});
document.getElementById('panel-close').addEventListener('click',close);
document.addEventListener('keydown',function(e){if(e.key==='Escape'&&!panel.hidden)close();});
window.addEventListener('hashchange',fromHash);
function filt(){document.body.classList.toggle('only-problems',only.checked);}
only.addEventListener('change',filt);filt();
if(decl){decl.addEventListener('change',function(){showDeclared(decl.checked);});
showDeclared(decl.checked);}
fromHash();root.setAttribute('data-ready','1');})();
