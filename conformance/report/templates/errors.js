(function(){var d=document.documentElement,errs=[];
function rec(m){errs.push(String(m));d.setAttribute('data-js-errors',JSON.stringify(errs));}
window.addEventListener('error',function(e){rec((e.message||'error')+' @'+(e.lineno||0));});
window.addEventListener('unhandledrejection',function(e){rec('unhandled rejection: '+e.reason);});
document.addEventListener('securitypolicyviolation',function(e){
rec('CSP blocked '+e.violatedDirective+' '+(e.blockedURI||''));});
var ce=console.error;console.error=function(){rec(Array.prototype.join.call(arguments,' '));
return ce.apply(console,arguments);};})();
