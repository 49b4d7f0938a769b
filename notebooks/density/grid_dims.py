import sys, time, numpy as np, warnings; warnings.filterwarnings("ignore")
sys.path.insert(0, __import__("os").path.dirname(__file__))
from common import load, acc
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA
from sklearn.metrics import normalized_mutual_info_score as nmi
def assign(F,l):
    k=l.max()+1; l2=l.copy(); m=l<0
    if k==0 or not m.any(): return l2
    C=np.stack([F[l==j].mean(0) for j in range(k)]); C/=np.linalg.norm(C,axis=1,keepdims=True)
    l2[m]=np.argmax(F[m]@C.T,1); return l2
if __name__=="__main__":
 for name in sys.argv[1:]:
     X,y=load(name); K=len(np.unique(y)); n=len(y); X/=np.linalg.norm(X,axis=1,keepdims=True)
     for khint in [K, None]:
         kh = khint or min(30,int(n**.5))
         for d in sorted({max(2,min(kh,10)), 10, 16}):
             Z=PCA(d,random_state=0).fit_transform(X)
             mcs=max(5,n//(4*kh))
             for ms in [5, mcs]:
               for sel in ["eom","leaf"]:
                 l=HDBSCAN(min_cluster_size=mcs,min_samples=min(ms,mcs),cluster_selection_method=sel).fit(Z).labels_
                 print(f"{name} K={K} hint={kh} d={d} mcs={mcs} ms={ms} {sel}: k={l.max()+1} noise={(l<0).mean():.2f} accZ={acc(y,assign(Z/np.linalg.norm(Z,axis=1,keepdims=True),l)):.3f} accX={acc(y,assign(X,l)):.3f}",flush=True)
 