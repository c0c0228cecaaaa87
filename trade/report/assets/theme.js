(function(){
  var saved=null;try{saved=localStorage.getItem('trade-theme');}catch(e){}
  var dark=saved?saved==='dark':
    (window.matchMedia&&matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.setAttribute('data-theme',dark?'dark':'light');
})();
function cssVar(n){return getComputedStyle(document.documentElement).getPropertyValue(n).trim();}
function toggleTheme(){
  var t=document.documentElement.getAttribute('data-theme')==='dark'?'light':'dark';
  document.documentElement.setAttribute('data-theme',t);
  try{localStorage.setItem('trade-theme',t);}catch(e){}
  if(window.onThemeChange)window.onThemeChange();
}
function b64bytes(s){var b=atob(s),n=b.length,u=new Uint8Array(n);
  for(var i=0;i<n;i++)u[i]=b.charCodeAt(i);return u.buffer;}
function b64f32(s){return new Float32Array(b64bytes(s));}
function b64f64(s){return new Float64Array(b64bytes(s));}
function b64u32(s){return new Uint32Array(b64bytes(s));}
function baseLayout(extra){
  var l={paper_bgcolor:cssVar('--panel'),plot_bgcolor:cssVar('--panel'),
    font:{family:cssVar('--sans'),color:cssVar('--ink'),size:12},
    margin:{l:60,r:20,t:10,b:40},hovermode:'x unified',
    hoverlabel:{bgcolor:cssVar('--panel'),bordercolor:cssVar('--line'),font:{color:cssVar('--ink')}},
    xaxis:{gridcolor:cssVar('--grid'),linecolor:cssVar('--line'),zerolinecolor:cssVar('--line')},
    yaxis:{gridcolor:cssVar('--grid'),linecolor:cssVar('--line'),zerolinecolor:cssVar('--line')},
    legend:{orientation:'h',y:1.02,yanchor:'bottom',x:0,bgcolor:'rgba(0,0,0,0)'}};
  for(var k in extra){if(typeof extra[k]==='object'&&l[k]&&!Array.isArray(extra[k])){
    for(var j in extra[k])l[k][j]=extra[k][j];}else l[k]=extra[k];}
  return l;
}
var PLOT_CONFIG={displaylogo:false,responsive:true,showLink:false,showSendToCloud:false,
  modeBarButtonsToRemove:['select2d','lasso2d','toImage']};
function fmtNum(v,d){if(v===null||v===undefined||isNaN(v))return 'n/a';
  return Number(v).toLocaleString('en-US',{minimumFractionDigits:d,maximumFractionDigits:d});}
function fmtTs(ms){if(ms===null||ms===undefined)return '';var s=new Date(ms).toISOString();
  return s.slice(0,10)+' '+s.slice(11,16);}
function esc(s){return String(s).replace(/[&<>"']/g,function(c){
  return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
